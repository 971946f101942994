# node-gyp build of the addons.  `npm install` runs node-gyp-build, which
# uses the prebuilt binary in prebuilds/ when there is one for this machine
# and otherwise runs scripts/check-build-deps.cjs, then this file.
#
#   aiocontext          the product addon (build/Release/aiocontext.node);
#                       the same sources are in CMakeLists.txt (cmake-js),
#                       which also spells out the C++ flags node-gyp takes
#                       from Node's common.gypi (-fno-rtti -fno-exceptions
#                       -Wno-unused-parameter); the C core alone, with its
#                       g_test suite, is meson.build, where liburing and
#                       libaio are optional
#   aiocontext_testing  the test and benchmark helpers (native/testing/,
#                       build/Release/aiocontext_testing.node),
#                       loaded only by test/ and bench/; built only where
#                       native/testing/ exists (a checkout, not an installed
#                       package or the prebuild's copy) and the environment
#                       does not say AIOCONTEXT_TESTING=0.
#
# Static libraries: liburing and libaio are linked from their .a files, so
# that the addon needs only GLib's runtime library (`ldd
# build/Release/aiocontext.node`).  Their -dev packages ship the .a files
# (libaio has no pkg-config file: its .a is found by the compiler's search
# path).  The core's build switches are native/build-config/aiocontext-config.h.
{
  "variables": {
    "aiocontext_testing%": "<!(node -p \"+(require('fs').existsSync('native/testing') && process.env.AIOCONTEXT_TESTING !== '0')\")",
    "static_libdir": "<!(pkg-config --variable=libdir liburing)"
  },
  "target_defaults": {
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "native/build-config",
      "native/core"
    ],
    "defines": [
      "NAPI_VERSION=8",
      "NAPI_DISABLE_CPP_EXCEPTIONS",
      # A Worker terminated inside a native call makes Node-API calls
      # fail with no exception pending; without this node-addon-api
      # turns its failed throw into a fatal error for the whole process.
      "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
      "NODE_ADDON_API_DISABLE_DEPRECATED"
    ],
    # gyp's "cflags" reach both C and C++; the language-specific flags
    # go in cflags_c / cflags_cc.
    "cflags": [
      "-Wall",
      "-Wextra",
      "<!@(pkg-config --cflags glib-2.0 liburing)"
    ],
    # Node's common.gypi adds -Wno-unused-parameter; the core keeps the
    # warning, as meson's -Wextra does.
    "cflags_c": [
      "-std=gnu11",
      "-Wunused-parameter",
      "-Werror"
    ],
    "cflags_cc": [
      "-std=c++17"
    ],
    # The static libraries' own symbols stay inside the addon; libaio.a's
    # versioned symbols need their version nodes (libaio.map says why).
    "ldflags": [
      "-Wl,--exclude-libs,ALL",
      "-Wl,--version-script=<(module_root_dir)/native/build-config/libaio.map"
    ],
    "libraries": [
      "<(static_libdir)/liburing.a",
      "<!(cc -print-file-name=libaio.a)",
      "<!@(pkg-config --libs glib-2.0)"
    ]
  },
  "targets": [
    {
      "target_name": "aiocontext",
      # Every .c file of the core (not its tests) and every .cc of the addon.
      "sources": [
        "<!@(ls -1 native/core/*.c native/addon/*.cc)"
      ]
    }
  ],
  "conditions": [
    ["aiocontext_testing==1", {
      "targets": [
        {
          # Its own copy of the core (for the benchmarks' private
          # contexts); it reaches the product addon's registry through
          # native/testing/product-link.cc.
          "target_name": "aiocontext_testing",
          "include_dirs": [
            "native/addon"
          ],
          "sources": [
            "<!@(ls -1 native/core/*.c native/testing/*.cc)",
            "native/addon/errors.cc"
          ],
          "libraries": [
            "-ldl"
          ]
        }
      ]
    }]
  ]
}
