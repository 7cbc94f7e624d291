{
  "targets": [
    {
      "target_name": "pagedict",
      "sources": ["native/lookup.c"],
      "cflags": ["-O2", "-std=c11", "-Wall", "-Wextra"]
    }
  ]
}
