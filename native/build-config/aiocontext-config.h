/*
 * aiocontext-config.h — build switches of the core, for the addon builds
 * (binding.gyp, CMakeLists.txt).  Internal: never installed, never in a
 * consumer's flags.
 *
 * The meson build generates its own aiocontext-config.h (meson.build,
 * configure_file) from what it finds; the addon builds always require (and
 * link statically) liburing and libaio, so this one is fixed.  A new
 * switch goes in both places.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef AIOCONTEXT_CONFIG_H
#define AIOCONTEXT_CONFIG_H

#define CONFIG_LINUX_IO_URING 1
#define CONFIG_LINUX_AIO 1

#endif /* AIOCONTEXT_CONFIG_H */
