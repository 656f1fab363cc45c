// WASM SIMD128 kernels for the browser build (native/wasm/, docs/web.md).
// SIMD128 is a compile-time feature (-msimd128): a module either validates
// with it or not at all, so there is no runtime CPU check. WASM has no fused
// multiply-add (relaxed SIMD is not in every browser), so the float kernels
// multiply and add separately, with four independent accumulators.
#include "kernels.h"

#if defined(__wasm_simd128__)

#include <wasm_simd128.h>

namespace hs {
namespace {

struct SquaredDifference {
  static v128_t step(v128_t acc, v128_t x, v128_t y) {
    const v128_t diff = wasm_f32x4_sub(x, y);
    return wasm_f32x4_add(acc, wasm_f32x4_mul(diff, diff));
  }
  static float step(float x, float y) { return (x - y) * (x - y); }
};

struct Product {
  static v128_t step(v128_t acc, v128_t x, v128_t y) { return wasm_f32x4_add(acc, wasm_f32x4_mul(x, y)); }
  static float step(float x, float y) { return x * y; }
};

inline float horizontal_sum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

// v128 loads have no alignment requirement.
template <class Op>
float sum_f32(const float* a, const float* b, size_t n) {
  v128_t acc0 = wasm_f32x4_splat(0.0f), acc1 = wasm_f32x4_splat(0.0f);
  v128_t acc2 = wasm_f32x4_splat(0.0f), acc3 = wasm_f32x4_splat(0.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = Op::step(acc0, wasm_v128_load(a + i), wasm_v128_load(b + i));
    acc1 = Op::step(acc1, wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4));
    acc2 = Op::step(acc2, wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8));
    acc3 = Op::step(acc3, wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12));
  }
  for (; i + 4 <= n; i += 4) acc0 = Op::step(acc0, wasm_v128_load(a + i), wasm_v128_load(b + i));
  float sum = horizontal_sum(wasm_f32x4_add(wasm_f32x4_add(acc0, acc1), wasm_f32x4_add(acc2, acc3)));
  for (; i < n; ++i) sum += Op::step(a[i], b[i]);
  return sum;
}

float l2sq_wasm(const float* a, const float* b, size_t n) { return sum_f32<SquaredDifference>(a, b, n); }
float dot_wasm(const float* a, const float* b, size_t n) { return sum_f32<Product>(a, b, n); }

inline uint32_t horizontal_sum_u32(v128_t v) {
  return wasm_i32x4_extract_lane(v, 0) + uint32_t(wasm_i32x4_extract_lane(v, 1)) +
         uint32_t(wasm_i32x4_extract_lane(v, 2)) + uint32_t(wasm_i32x4_extract_lane(v, 3));
}

// Widened to int16 the difference of two int8 is in -255..255; i32x4.dot_i16x8
// adds two squares (at most 2 * 65025) per 32-bit lane. 32-bit lanes wrap
// exactly like the scalar uint32_t sum.
int32_t l2sq_i8_wasm(const int8_t* a, const int8_t* b, size_t n) {
  v128_t acc = wasm_i32x4_splat(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v128_t va = wasm_v128_load(a + i), vb = wasm_v128_load(b + i);
    const v128_t low = wasm_i16x8_sub(wasm_i16x8_extend_low_i8x16(va), wasm_i16x8_extend_low_i8x16(vb));
    const v128_t high = wasm_i16x8_sub(wasm_i16x8_extend_high_i8x16(va), wasm_i16x8_extend_high_i8x16(vb));
    acc = wasm_i32x4_add(acc, wasm_i32x4_add(wasm_i32x4_dot_i16x8(low, low), wasm_i32x4_dot_i16x8(high, high)));
  }
  uint32_t sum = horizontal_sum_u32(acc);
  for (; i < n; ++i) {
    const int32_t diff = int32_t{a[i]} - int32_t{b[i]};
    sum += static_cast<uint32_t>(diff * diff);
  }
  return static_cast<int32_t>(sum);
}

// A product of two int8 is at most 128 * 128 = 16384; two of them fit int32.
int32_t dot_i8_wasm(const int8_t* a, const int8_t* b, size_t n) {
  v128_t acc = wasm_i32x4_splat(0);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const v128_t va = wasm_v128_load(a + i), vb = wasm_v128_load(b + i);
    acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(va), wasm_i16x8_extend_low_i8x16(vb)));
    acc = wasm_i32x4_add(acc, wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(va), wasm_i16x8_extend_high_i8x16(vb)));
  }
  uint32_t sum = horizontal_sum_u32(acc);
  for (; i < n; ++i) sum += static_cast<uint32_t>(int32_t{a[i]} * int32_t{b[i]});
  return static_cast<int32_t>(sum);
}

// Per 16-byte block: popcount per byte (≤ 8), pairwise-widened to 16 and then
// 32 bits, so no lane can overflow for any code length the format allows.
uint32_t hamming_wasm(const uint8_t* a, const uint8_t* b, size_t nbytes) {
  v128_t total = wasm_i32x4_splat(0);
  size_t i = 0;
  for (; i + 16 <= nbytes; i += 16) {
    const v128_t bits = wasm_i8x16_popcnt(wasm_v128_xor(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    total = wasm_i32x4_add(total, wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(bits)));
  }
  uint32_t count = horizontal_sum_u32(total);
  for (; i < nbytes; ++i) count += static_cast<uint32_t>(__builtin_popcount(unsigned{a[i]} ^ unsigned{b[i]}));
  return count;
}

}  // namespace

const Kernels* wasm_kernels() {
  static const Kernels table{"wasm-simd128", l2sq_wasm, dot_wasm, l2sq_i8_wasm, dot_i8_wasm, hamming_wasm};
  return &table;
}

}  // namespace hs

#else  // not a WASM SIMD128 build

namespace hs {
const Kernels* wasm_kernels() { return nullptr; }
}  // namespace hs

#endif
