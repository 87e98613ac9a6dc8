{
  "targets": [
    {
      "target_name": "eh_shm",
      "sources": ["native/addon.c", "native/shm.c", "native/reduce.c", "native/reduce_napi.c"],
      "cflags!": ["-O2"],
      "cflags": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-ffp-contract=off"] }
    }
  ]
}
