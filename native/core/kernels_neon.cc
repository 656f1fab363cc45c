// NEON kernels for aarch64, where Advanced SIMD is part of the base ISA: no
// target attributes and no CPU check are needed.
#include "kernels.h"

#if defined(__aarch64__)

#include <arm_neon.h>

namespace hs {
namespace {

struct SquaredDifference {
  static float32x4_t step(float32x4_t acc, float32x4_t x, float32x4_t y) {
    const float32x4_t diff = vsubq_f32(x, y);
    return vfmaq_f32(acc, diff, diff);
  }
  static float step(float x, float y) { return (x - y) * (x - y); }
};

struct Product {
  static float32x4_t step(float32x4_t acc, float32x4_t x, float32x4_t y) { return vfmaq_f32(acc, x, y); }
  static float step(float x, float y) { return x * y; }
};

// Four independent accumulators of 4 lanes hide the FMA latency.
template <class Op>
float sum_f32(const float* a, const float* b, size_t n) {
  float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = vdupq_n_f32(0.0f);
  float32x4_t acc2 = vdupq_n_f32(0.0f), acc3 = vdupq_n_f32(0.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = Op::step(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
    acc1 = Op::step(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    acc2 = Op::step(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
    acc3 = Op::step(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = Op::step(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
  float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc0, acc1), vaddq_f32(acc2, acc3)));
  for (; i < n; ++i) sum += Op::step(a[i], b[i]);
  return sum;
}

float l2sq_neon(const float* a, const float* b, size_t n) { return sum_f32<SquaredDifference>(a, b, n); }
float dot_neon(const float* a, const float* b, size_t n) { return sum_f32<Product>(a, b, n); }

// |a - b| of two int8 always fits uint8 (0..255) and its square fits uint16,
// so absolute difference, widening multiply and pairwise accumulate suffice.
// 32-bit lanes wrap exactly like the scalar uint32_t sum.
int32_t l2sq_i8_neon(const int8_t* a, const int8_t* b, size_t n) {
  uint32x4_t acc0 = vdupq_n_u32(0), acc1 = vdupq_n_u32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const uint8x16_t diff = vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i), vld1q_s8(b + i)));
    acc0 = vpadalq_u16(acc0, vmull_u8(vget_low_u8(diff), vget_low_u8(diff)));
    acc1 = vpadalq_u16(acc1, vmull_high_u8(diff, diff));
  }
  uint32_t sum = vaddvq_u32(vaddq_u32(acc0, acc1));
  for (; i < n; ++i) {
    const int32_t diff = int32_t{a[i]} - int32_t{b[i]};
    sum += static_cast<uint32_t>(diff * diff);
  }
  return static_cast<int32_t>(sum);
}

// A product of two int8 is at most 128 * 128 = 16384, which fits int16.
int32_t dot_i8_neon(const int8_t* a, const int8_t* b, size_t n) {
  int32x4_t acc0 = vdupq_n_s32(0), acc1 = vdupq_n_s32(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t va = vld1q_s8(a + i), vb = vld1q_s8(b + i);
    acc0 = vpadalq_s16(acc0, vmull_s8(vget_low_s8(va), vget_low_s8(vb)));
    acc1 = vpadalq_s16(acc1, vmull_high_s8(va, vb));
  }
  uint32_t sum = static_cast<uint32_t>(vaddvq_s32(vaddq_s32(acc0, acc1)));
  for (; i < n; ++i) sum += static_cast<uint32_t>(int32_t{a[i]} * int32_t{b[i]});
  return static_cast<int32_t>(sum);
}

// Each 16-bit lane gains at most 16 per block (two bytes of 8 bits), so the
// lanes are folded into 32 bits before 65535 / 16 blocks have passed.
constexpr size_t kHammingBlocksPerFold = 4096 - 1;

uint32_t hamming_neon(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  uint32x4_t total = vdupq_n_u32(0);
  size_t i = 0;
  while (i + 16 <= nbytes) {
    uint16x8_t partial = vdupq_n_u16(0);
    for (size_t blocks = 0; blocks < kHammingBlocksPerFold && i + 16 <= nbytes; ++blocks, i += 16) {
      partial = vpadalq_u8(partial, vcntq_u8(veorq_u8(vld1q_u8(a + i), vld1q_u8(b + i))));
    }
    total = vpadalq_u16(total, partial);
  }
  uint32_t count = vaddvq_u32(total);
  for (; i < nbytes; ++i) count += static_cast<uint32_t>(__builtin_popcount(unsigned{a[i]} ^ unsigned{b[i]}));
  return count;
}

}  // namespace

const Kernels* neon_kernels() {
  static const Kernels table{"neon", l2sq_neon, dot_neon, l2sq_i8_neon, dot_i8_neon, hamming_neon};
  return &table;
}

}  // namespace hs

#else  // not aarch64

namespace hs {
const Kernels* neon_kernels() { return nullptr; }
}  // namespace hs

#endif
