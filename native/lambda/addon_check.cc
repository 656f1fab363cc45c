// Checks a Lambda build of the addon on a machine without a Node of its
// architecture (the arm64 addon cross-built on x86_64, run under qemu-user).
// native/build-lambda-addon.sh links this program from the very core object
// files it linked into hyperspace_native.node (compiled once, with the
// addon's flags), so what it computes is what the addon computes:
//
//   addon_check load <hyperspace_native.node>
//       dlopen the addon with every import bound at once (RTLD_NOW: each glibc
//       and libgcc_s symbol version must exist), run its static initializers
//       and find napi_register_module_v1. The N-API functions it imports bind
//       to stand-ins the build script links in, which abort if called.
//   addon_check build <vectors.f32> <dimension> <metric> <quant> <m> <ef_construction> <seed> <out.hsix>
//       build_index with one thread (a deterministic blob), written to out.
//   addon_check search <index.hsix> <queries.f32> <k> <ef> <rerank> <out.bin>
//       open_index (checksums verified), then search every query; out holds
//       queries x k u32 positions, then queries x k f32 distances (unused
//       slots 0xFFFFFFFF / +inf), the layout of the addon's searchBatch.
//
// Metric and quantization are the binding's codes (space.h). Exit status 0 on
// success, 1 on any failure with the reason on stderr.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <limits>
#include <string>
#include <vector>

#include "../core/hnsw.h"
#include "../core/index_format.h"
#include "../core/kernels.h"

namespace {

std::vector<uint8_t> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot open ") + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const char* path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), std::streamsize(bytes));
  if (!out) throw std::runtime_error(std::string("cannot write ") + path);
}

std::vector<float> read_floats(const char* path, uint32_t dimension) {
  std::vector<uint8_t> bytes = read_file(path);
  if (dimension == 0 || bytes.size() % (size_t(dimension) * sizeof(float)) != 0)
    throw std::runtime_error(std::string(path) + ": size is not a multiple of dimension x 4 bytes");
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), bytes.size());
  return floats;
}

uint32_t number(const char* text) { return uint32_t(std::strtoul(text, nullptr, 10)); }

int load(const char* addon) {
  void* handle = dlopen(addon, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    std::fprintf(stderr, "dlopen failed: %s\n", dlerror());
    return 1;
  }
  if (dlsym(handle, "napi_register_module_v1") == nullptr) {
    std::fprintf(stderr, "napi_register_module_v1 not found: %s\n", dlerror());
    return 1;
  }
  std::printf("loaded %s: napi_register_module_v1 found\n", addon);
  return 0;
}

int build(char** arg) {
  hs::IndexParams p;
  p.dimension = number(arg[1]);
  std::vector<float> vectors = read_floats(arg[0], p.dimension);
  p.count = uint32_t(vectors.size() / p.dimension);
  p.metric = hs::Metric(number(arg[2]));
  p.quant = hs::Quant(number(arg[3]));
  p.m = number(arg[4]);
  p.ef_construction = number(arg[5]);
  p.seed = std::strtoull(arg[6], nullptr, 10);
  std::vector<uint8_t> blob = hs::build_index(vectors.data(), p, 1);
  write_file(arg[7], blob.data(), blob.size());
  std::printf("built %u x %u: %zu bytes, crc32c %08x\n", p.count, p.dimension, blob.size(),
              hs::crc32c(blob.data(), blob.size()));
  return 0;
}

int search(char** arg) {
  std::vector<uint8_t> blob = read_file(arg[0]);
  hs::IndexView view = hs::open_index(blob.data(), blob.size(), true);
  std::vector<float> queries = read_floats(arg[1], view.params.dimension);
  const size_t count = queries.size() / view.params.dimension;
  hs::SearchOptions o;
  o.k = number(arg[2]);
  o.ef = number(arg[3]);
  o.rerank = number(arg[4]);
  std::vector<uint32_t> positions(count * o.k, 0xFFFFFFFFu);
  std::vector<float> distances(count * o.k, std::numeric_limits<float>::infinity());
  for (size_t q = 0; q < count; q++)
    hs::search(view, &queries[q * view.params.dimension], o, &positions[q * o.k], &distances[q * o.k]);
  std::vector<uint8_t> out(positions.size() * 4 + distances.size() * 4);
  std::memcpy(out.data(), positions.data(), positions.size() * 4);
  std::memcpy(out.data() + positions.size() * 4, distances.data(), distances.size() * 4);
  write_file(arg[5], out.data(), out.size());
  std::printf("searched %zu queries, k=%u ef=%u rerank=%u\n", count, o.k, o.ef, o.rerank);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  try {
    std::printf("kernels: %s\n", hs::kernels().name);
    if (command == "load" && argc == 3) return load(argv[2]);
    if (command == "build" && argc == 10) return build(argv + 2);
    if (command == "search" && argc == 8) return search(argv + 2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "addon_check %s: %s\n", command.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr,
               "usage: addon_check load <addon.node>\n"
               "       addon_check build <vectors.f32> <dimension> <metric> <quant> <m> <ef_construction> <seed> <out.hsix>\n"
               "       addon_check search <index.hsix> <queries.f32> <k> <ef> <rerank> <out.bin>\n");
  return 1;
}
