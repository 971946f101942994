# node-gyp build of the addon; `npm install` runs it.
# The same sources are in CMakeLists.txt (cmake-js), which also spells out
# the C++ flags node-gyp takes from Node's common.gypi (-fno-rtti
# -fno-exceptions -Wno-unused-parameter); the C core alone, with its g_test
# suite, is built by meson.build, where liburing and libaio are optional.
{
  "targets": [
    {
      "target_name": "aiocontext",
      # Every .c file of the core (not its tests) and every .cc of the addon.
      "sources": [
        "<!@(ls -1 native/core/*.c native/addon/*.cc)"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/core"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "CONFIG_LINUX_IO_URING=1",
        "CONFIG_LINUX_AIO=1"
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
      "libraries": [
        "<!@(pkg-config --libs glib-2.0 liburing)",
        # libaio ships no pkg-config file.
        "-laio"
      ]
    }
  ]
}
