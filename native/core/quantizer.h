// int8 and binary codes for graph traversal (docs/format/index.md, "quant").
#pragma once
#include <cstdint>
#include <vector>

#include "space.h"

namespace hs {

struct Quantizer {
  Quant kind = Quant::None;
  uint32_t dimension = 0;
  std::vector<float> mean;  // empty when kind == None
  float scale = 1;

  // Learn mean and scale from n vectors (row-major).
  static Quantizer train(Quant kind, const float* vectors, uint32_t n, uint32_t dimension);
  size_t code_bytes() const;
  void encode(const float* v, uint8_t* code) const;
  // Per-record exact terms: r = ||v-mean||, c = mean.(v-mean), alpha (poincare).
  void aux(const float* v, Metric m, float* out4) const;
  QueryTerms query_terms(const float* q, Metric m) const;
};

// The same operations on a mapped index's mean and scale, allocation-free (search path).
// mean may be null (unquantized): r and c are then 0.
void encode_code(Quant kind, const float* mean, float scale, uint32_t dimension, const float* v,
                 uint8_t* code);
void aux_terms(const float* mean, uint32_t dimension, const float* v, Metric m, float* out4);
QueryTerms query_terms(const float* mean, uint32_t dimension, const float* q, Metric m);

}  // namespace hs
