// Metrics, ranking keys and quantized estimates (docs/format/index.md).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels.h"

namespace hs {

enum class Metric : uint8_t { L2 = 0, Dot = 1, Cosine = 2, Poincare = 3 };
enum class Quant : uint8_t { None = 0, Int8 = 1, Binary = 2 };

// 1 - ||v||^2 in double: near the ball's boundary ||v||^2 is within 1e-6 of 1
// and a float sum would lose most of the digits that matter.
inline float poincare_alpha(const float* v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += double(v[i]) * double(v[i]);
  return float(1.0 - s);
}

// The ranking key: monotone in the true distance and cheaper to compute.
inline float exact_key(Metric m, const Kernels& k, const float* q, const float* v, size_t n,
                       float alpha_q, float alpha_v) {
  switch (m) {
    case Metric::L2: return k.l2sq(q, v, n);
    case Metric::Dot: return -k.dot(q, v, n);
    case Metric::Cosine: return 1.0f - k.dot(q, v, n);
    case Metric::Poincare: return k.l2sq(q, v, n) / (alpha_q * alpha_v);
  }
  return 0;
}

inline float key_to_distance(Metric m, float key) {
  switch (m) {
    case Metric::Poincare: {
      double x = 2.0 * double(key);
      if (x < 0) x = 0;
      return float(std::log1p(x + std::sqrt(x * (x + 2.0))));
    }
    case Metric::Cosine: return key < 0 ? 0.0f : key;
    case Metric::L2: return key < 0 ? 0.0f : key;
    default: return key;
  }
}

// Combine an estimate of the centred dot D = (q-mean).(v-mean) with the
// record's exact terms into a ranking key of the metric.
struct QueryTerms {
  float r = 0;      // ||q - mean||
  float qm = 0;     // q . mean
  float alpha = 1;  // 1 - ||q||^2 (poincare)
};

inline float estimate_key(Metric m, const QueryTerms& q, float D, const float* aux) {
  const float rv = aux[0], cv = aux[1], alpha_v = aux[2];
  switch (m) {
    case Metric::L2: return q.r * q.r + rv * rv - 2 * D;
    case Metric::Dot: return -(q.qm + D + cv);
    case Metric::Cosine: return 1.0f - (q.qm + D + cv);
    case Metric::Poincare: {
      float l2 = q.r * q.r + rv * rv - 2 * D;
      if (l2 < 0) l2 = 0;
      return l2 / (q.alpha * alpha_v);
    }
  }
  return 0;
}

}  // namespace hs
