{
  "targets": [
    {
      "target_name": "close_stress",
      "sources": ["src/binding.c", "src/binding-remote.c", "src/remote.c", "src/core.c", "src/lanes.c", "src/os.c", "src/errnames.c", "src/counters.c", "src/layout.c", "src/plan.c"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "xcode_settings": {"OTHER_CFLAGS": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]},
      "conditions": [
        ["OS=='linux' or OS=='freebsd'", {"libraries": ["-lpthread"]}]
      ]
    },
    {
      "target_name": "close-stress-core",
      "type": "executable",
      "sources": ["src/main.c", "src/core.c", "src/lanes.c", "src/os.c", "src/errnames.c", "src/counters.c", "src/layout.c", "src/plan.c"],
      "defines": ["CS_TOOL_VERSION=\"<!(node -p \"require('../package.json').version\")\""],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "xcode_settings": {"OTHER_CFLAGS": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]},
      "conditions": [
        ["OS=='linux' or OS=='freebsd'", {"ldflags": ["-pthread"], "libraries": ["-lpthread"]}]
      ]
    },
    {
      "target_name": "close-stress-inject",
      "type": "shared_library",
      "product_name": "close-stress-inject",
      "sources": ["src/inject.c"],
      "cflags_c": ["-std=gnu11", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "xcode_settings": {"OTHER_CFLAGS": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]},
      "conditions": [
        ["OS=='linux'", {"libraries": ["-ldl", "-lpthread"]}]
      ]
    }
  ]
}
