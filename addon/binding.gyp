# Builds addon/build/Release/mdt_native.node: a thin libbpf wrapper (see src/*.h).
# libbpf is the system one (Debian 12: libbpf-dev 1.1.2), found through pkg-config.
{
  "targets": [
    {
      "target_name": "mdt_native",
      "sources": [
        "src/module.cc",
        "src/bpf_object.cc",
        "src/ring_reader.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags": ["<!@(pkg-config --cflags libbpf)", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["<!@(pkg-config --libs libbpf)", "-lelf", "-lz", "-lpthread"]
    }
  ]
}
