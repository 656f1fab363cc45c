// HNSW build and in-place search over an IndexView (docs/format/index.md).
#pragma once
#include <cstdint>
#include <vector>

#include "index_format.h"

namespace hs {

// Build over n = p.count row-major vectors. threads = 1 gives a deterministic
// blob for a given input, parameters and seed.
std::vector<uint8_t> build_index(const float* vectors, const IndexParams& p, uint32_t threads);

struct SearchOptions {
  uint32_t k = 10;
  uint32_t ef = 64;
  // Quantized only: how many of the best estimates get an exact re-score. 0 or
  // ≤ ef: the best of the ef beam results; > ef: the best of every record the
  // beam visited (a wider rerank without a wider beam).
  uint32_t rerank = 0;
  const uint8_t* allow = nullptr;   // bitset over positions, LSB-first; null = all
  const uint8_t* deleted = nullptr; // bitset over positions; null = none
  // With an allow-list keeping at most this many records, scan them exactly.
  uint32_t flat_threshold = 2048;
};

// Writes up to k results ascending by distance; returns how many.
uint32_t search(const IndexView& v, const float* query, const SearchOptions& o, uint32_t* out_pos,
                float* out_dist);

// Exact scan over n row-major vectors (unit length for cosine). alphas may be
// null for poincare (computed on the fly).
uint32_t flat_search(Metric m, const float* vectors, uint32_t n, uint32_t dimension,
                     const float* alphas, size_t alpha_stride, const float* query, uint32_t k,
                     const uint8_t* allow, const uint8_t* deleted, uint32_t* out_pos,
                     float* out_dist);

// Unit-length copy for cosine; the query as-is otherwise.
void prepare_query(Metric m, const float* query, uint32_t dimension, float* out);

inline bool bit_is_set(const uint8_t* bits, uint32_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

}  // namespace hs
