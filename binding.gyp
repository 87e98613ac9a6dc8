{
  "targets": [
    {
      "target_name": "eh_shm",
      "sources": ["native/shm.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
