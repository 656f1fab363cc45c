{
  "targets": [
    {
      "target_name": "hyperspace_native",
      "sources": [
        "native/core/kernels.cc",
        "native/core/kernels_scalar.cc",
        "native/core/kernels_avx2.cc",
        "native/core/kernels_neon.cc",
        "native/core/crc32c.cc",
        "native/core/hnsw.cc",
        "native/core/index_format.cc",
        "native/core/quantizer.cc",
        "native/binding/addon.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "cflags": ["-O3"],
      "ldflags": ["-pthread"]
    }
  ]
}
