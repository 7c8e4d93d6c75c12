{
  "targets": [
    {
      "target_name": "close_stress",
      "sources": ["src/binding.c", "src/core.c", "src/os.c", "src/errnames.c"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "xcode_settings": {"OTHER_CFLAGS": ["-std=gnu11", "-O2", "-Wall", "-Wextra"]},
      "conditions": [
        ["OS=='linux' or OS=='freebsd'", {"libraries": ["-lpthread"]}]
      ]
    }
  ]
}
