{
  "targets": [
    {
      "target_name": "pagedict",
      "sources": ["native/lookup.c"],
      "cflags": ["-std=c11", "-Wall", "-Wextra"]
    }
  ]
}
