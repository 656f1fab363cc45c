#include "quantizer.h"

#include "index_format.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace hs {

Quantizer Quantizer::train(Quant kind, const float* vectors, uint32_t n, uint32_t dimension) {
  Quantizer q;
  q.kind = kind;
  q.dimension = dimension;
  if (kind == Quant::None || n == 0) {
    if (kind != Quant::None) q.mean.assign(dimension, 0.0f);
    return q;
  }
  std::vector<double> sum(dimension, 0.0);
  for (size_t i = 0; i < n; i++)
    for (size_t d = 0; d < dimension; d++) sum[d] += vectors[i * dimension + d];
  q.mean.resize(dimension);
  for (size_t d = 0; d < dimension; d++) q.mean[d] = float(sum[d] / n);
  if (kind == Quant::Int8) {
    // The scale covers the 99.99th percentile of |v - mean| over a sample:
    // one outlier coordinate must not flatten every other code to zero.
    std::vector<float> sample;
    const size_t total = size_t(n) * dimension;
    const size_t step = std::max<size_t>(1, total / 1000000);
    for (size_t j = 0; j < total; j += step) {
      sample.push_back(std::fabs(vectors[j] - q.mean[j % dimension]));
    }
    size_t at = size_t(double(sample.size() - 1) * 0.9999);
    std::nth_element(sample.begin(), sample.begin() + at, sample.end());
    float top = sample[at];
    q.scale = top > 0 ? top / 127.0f : 1.0f;
  }
  return q;
}

size_t Quantizer::code_bytes() const {
  if (kind == Quant::Int8) return dimension;
  if (kind == Quant::Binary) return (dimension + 7) / 8;
  return 0;
}

void Quantizer::encode(const float* v, uint8_t* code) const {
  encode_code(kind, mean.data(), scale, dimension, v, code);
}

void Quantizer::aux(const float* v, Metric m, float* out) const {
  aux_terms(mean.empty() ? nullptr : mean.data(), dimension, v, m, out);
}

QueryTerms Quantizer::query_terms(const float* q, Metric m) const {
  return hs::query_terms(mean.empty() ? nullptr : mean.data(), dimension, q, m);
}

void encode_code(Quant kind, const float* mean, float scale, uint32_t dimension, const float* v,
                 uint8_t* code) {
  if (kind == Quant::Int8) {
    // Clamp, then round half to even: the same codes as clamp(nearbyint(x))
    // in the default rounding mode, without a libm call per value (the
    // baseline x86-64 target has no SSE4.1 round). Exact for |x| < 2^22.
    const float inv = 1.0f / scale, magic = 12582912.0f;  // 1.5 * 2^23
    for (size_t d = 0; d < dimension; d++) {
      float x = std::min(127.0f, std::max(-127.0f, (v[d] - mean[d]) * inv));
      x = (x + magic) - magic;
      code[d] = uint8_t(int8_t(x));
    }
  } else if (kind == Quant::Binary) {
    std::memset(code, 0, code_bytes_for(kind, dimension));
    for (size_t d = 0; d < dimension; d++)
      if (v[d] - mean[d] > 0) code[d >> 3] |= uint8_t(1u << (d & 7));
  }
}

void aux_terms(const float* mean, uint32_t dimension, const float* v, Metric m, float* out) {
  double r2 = 0, c = 0, l1 = 0;
  if (mean != nullptr) {
    for (size_t d = 0; d < dimension; d++) {
      double x = double(v[d]) - mean[d];
      r2 += x * x;
      c += double(mean[d]) * x;
      l1 += std::fabs(x);
    }
  }
  out[0] = float(std::sqrt(r2));
  out[1] = float(c);
  out[2] = m == Metric::Poincare ? poincare_alpha(v, dimension) : 0.0f;
  // ‖x‖²/‖x‖₁ with x = v − mean: scales Σ ±q'_i (signs of x) into an
  // estimate of q'·x that is exact when q' ∥ x (binary traversal).
  out[3] = l1 > 0 ? float(r2 / l1) : 0.0f;
}

QueryTerms query_terms(const float* mean, uint32_t dimension, const float* q, Metric m) {
  float a[4];
  aux_terms(mean, dimension, q, m, a);
  QueryTerms t;
  t.r = a[0];
  t.alpha = m == Metric::Poincare ? a[2] : 1.0f;
  double qm = 0;
  if (mean != nullptr)
    for (size_t d = 0; d < dimension; d++) qm += double(q[d]) * mean[d];
  t.qm = float(qm);
  return t;
}

}  // namespace hs
