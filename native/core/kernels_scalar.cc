// Scalar reference kernels: plain loops, no tricks. Every other table is
// tested against these (native/test/kernels_test.cc), so they favour accuracy
// over speed: float sums accumulate in double, so the reference is closer to
// the exact value than any float-accumulating SIMD kernel it judges.
#include <cstring>

#include "kernels.h"

namespace hs {
namespace {

float l2sq_scalar(const float* a, const float* b, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    // The difference is taken in float, as every SIMD kernel does, so nearly
    // equal vectors give the same (exact, by Sterbenz) differences everywhere.
    const float diff = a[i] - b[i];
    sum += static_cast<double>(diff) * static_cast<double>(diff);
  }
  return static_cast<float>(sum);
}

float dot_scalar(const float* a, const float* b, size_t n) {
  double sum = 0.0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return static_cast<float>(sum);
}

// int8 sums accumulate in uint32_t: wrapping is defined, and it is what the
// SIMD 32-bit lanes do. dot_i8 always fits int32 for n <= 65536; l2sq_i8 can
// reach 65536 * 255^2 = 4'261'478'400, which only fits uint32_t, so callers
// with n > 33025 read the result as uint32_t (docs/kernels.md).
int32_t l2sq_i8_scalar(const int8_t* a, const int8_t* b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const int32_t diff = int32_t{a[i]} - int32_t{b[i]};
    sum += static_cast<uint32_t>(diff * diff);
  }
  return static_cast<int32_t>(sum);
}

int32_t dot_i8_scalar(const int8_t* a, const int8_t* b, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<uint32_t>(int32_t{a[i]} * int32_t{b[i]});
  return static_cast<int32_t>(sum);
}

uint32_t hamming_scalar(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  uint64_t count = 0;
  size_t i = 0;
  for (; i + 8 <= nbytes; i += 8) {
    uint64_t wa, wb;
    std::memcpy(&wa, a + i, 8);  // codes need not be 8-byte aligned
    std::memcpy(&wb, b + i, 8);
    count += static_cast<uint64_t>(__builtin_popcountll(wa ^ wb));
  }
  for (; i < nbytes; ++i) count += static_cast<uint64_t>(__builtin_popcount(unsigned{a[i]} ^ unsigned{b[i]}));
  return static_cast<uint32_t>(count);
}

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels table{"scalar", l2sq_scalar, dot_scalar, l2sq_i8_scalar, dot_i8_scalar, hamming_scalar};
  return table;
}

}  // namespace hs
