// The C API of the WebAssembly build: the same core as the Node addon
// (native/core/), exported as plain functions over linear-memory pointers.
// Like native/binding/addon.cc it checks only what keeps memory safe; the TS
// facade (native/index.ts, fed this build by native/wasm/binding.ts)
// validates and words the errors. Built by native/wasm/build.mjs.
#include <emscripten/emscripten.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "../core/hnsw.h"
#include "../core/index_format.h"
#include "../core/kernels.h"

namespace {

// The last failure, read by hs_last_error / hs_last_error_kind (0 none,
// 1 data: a corrupt or malformed blob, 2 internal).
std::string last_error;
int last_error_kind = 0;

void fail(int kind, const char* message) {
  last_error_kind = kind;
  last_error = message;
}

struct OpenIndex {
  hs::IndexView view;
  const uint8_t* base;  // the blob's first byte, for vectorsOffset
};

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* hs_last_error() { return last_error.c_str(); }
EMSCRIPTEN_KEEPALIVE int hs_last_error_kind() { return last_error_kind; }
EMSCRIPTEN_KEEPALIVE const char* hs_kernel_name() { return hs::kernels().name; }

// 64-byte aligned, as a mapped file is: sections are 64-byte aligned within it.
EMSCRIPTEN_KEEPALIVE void* hs_alloc(size_t bytes) {
  return std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) & ~size_t(63));
}
EMSCRIPTEN_KEEPALIVE void hs_free(void* p) { std::free(p); }

EMSCRIPTEN_KEEPALIVE uint32_t hs_crc32c(const uint8_t* data, size_t n, uint32_t seed) {
  return hs::crc32c(data, n, seed);
}

// Builds single-threaded (this build has no threads). Returns a blob from
// hs_alloc (caller frees) and its size in *out_bytes, or null on failure.
EMSCRIPTEN_KEEPALIVE uint8_t* hs_build(const float* vectors, uint32_t dimension, uint32_t count,
                                       uint32_t metric, uint32_t quant, uint32_t m,
                                       uint32_t ef_construction, double seed, uint32_t* out_bytes) {
  hs::IndexParams p;
  p.dimension = dimension;
  p.count = count;
  p.metric = hs::Metric(metric);
  p.quant = hs::Quant(quant);
  p.m = m;
  p.ef_construction = ef_construction;
  p.seed = uint64_t(seed);
  try {
    std::vector<uint8_t> blob = hs::build_index(vectors, p, 1);
    auto* out = static_cast<uint8_t*>(hs_alloc(blob.size()));
    if (out == nullptr) {
      fail(2, "out of memory for the index blob");
      return nullptr;
    }
    std::memcpy(out, blob.data(), blob.size());
    *out_bytes = uint32_t(blob.size());
    return out;
  } catch (const std::exception& e) {
    fail(2, e.what());
    return nullptr;
  }
}

// Exact top-k; the query is prepared here (cosine: unit length) as the addon does.
EMSCRIPTEN_KEEPALIVE uint32_t hs_flat_search(const float* vectors, uint32_t count, uint32_t dimension,
                                             uint32_t metric, const float* query, uint32_t k,
                                             const uint8_t* allow, const uint8_t* deleted,
                                             uint32_t* out_positions, float* out_distances) {
  static std::vector<float> prepared;
  prepared.resize(dimension);
  const auto m = hs::Metric(metric);
  hs::prepare_query(m, query, dimension, prepared.data());
  k = std::min(k, count);
  return hs::flat_search(m, vectors, count, dimension, nullptr, 0, prepared.data(), k, allow, deleted,
                         out_positions, out_distances);
}

// Opens a blob in place (it must stay allocated while the index is open).
// Null on failure: hs_last_error_kind() 1 = data.
EMSCRIPTEN_KEEPALIVE OpenIndex* hs_index_open(const uint8_t* bytes, size_t size, int verify) {
  try {
    return new OpenIndex{hs::open_index(bytes, size, verify != 0), bytes};
  } catch (const hs::FormatError& e) {
    fail(1, e.what());
  } catch (const std::exception& e) {
    fail(2, e.what());
  }
  return nullptr;
}

EMSCRIPTEN_KEEPALIVE void hs_index_close(OpenIndex* index) { delete index; }

// dimension, count, metric, quantization, m, efConstruction, maxLevel, bytes, vectorsOffset
EMSCRIPTEN_KEEPALIVE void hs_index_info(const OpenIndex* index, double* out9) {
  const hs::IndexView& v = index->view;
  out9[0] = v.params.dimension;
  out9[1] = v.params.count;
  out9[2] = double(uint32_t(v.params.metric));
  out9[3] = double(uint32_t(v.params.quant));
  out9[4] = v.params.m;
  out9[5] = v.params.ef_construction;
  out9[6] = v.max_level;
  out9[7] = double(v.total_bytes);
  out9[8] = double(reinterpret_cast<const uint8_t*>(v.vectors) - index->base);
}

EMSCRIPTEN_KEEPALIVE uint32_t hs_index_search(const OpenIndex* index, const float* query, uint32_t k,
                                              uint32_t ef, uint32_t rerank, uint32_t flat_threshold,
                                              const uint8_t* allow, const uint8_t* deleted,
                                              uint32_t* out_positions, float* out_distances) {
  hs::SearchOptions o;
  o.k = std::min(k, index->view.params.count);
  o.ef = ef;
  o.rerank = rerank;
  o.flat_threshold = flat_threshold;
  o.allow = allow;
  o.deleted = deleted;
  return hs::search(index->view, query, o, out_positions, out_distances);
}

// For the kernel agreement test: op 0 l2sq, 1 dot, 2 l2sq_i8, 3 dot_i8,
// 4 hamming, on the chosen table (reference = 0) or the scalar one (1).
EMSCRIPTEN_KEEPALIVE double hs_kernel(int reference, int op, const void* a, const void* b, size_t n) {
  const hs::Kernels& k = reference ? hs::scalar_kernels() : hs::kernels();
  const auto* fa = static_cast<const float*>(a);
  const auto* fb = static_cast<const float*>(b);
  const auto* ia = static_cast<const int8_t*>(a);
  const auto* ib = static_cast<const int8_t*>(b);
  switch (op) {
    case 0: return k.l2sq(fa, fb, n);
    case 1: return k.dot(fa, fb, n);
    case 2: return k.l2sq_i8(ia, ib, n);
    case 3: return k.dot_i8(ia, ib, n);
    case 4: return k.hamming(static_cast<const uint8_t*>(a), static_cast<const uint8_t*>(b), n);
  }
  return 0;
}

}  // extern "C"
