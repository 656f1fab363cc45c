// Distance kernels: one table of function pointers per instruction set,
// chosen once at load time (see kernels() in kernels.cc).
// Every implementation must agree with the scalar reference within float
// tolerance, for any n (not only multiples of the vector width).
#pragma once
#include <cstddef>
#include <cstdint>

namespace hs {

struct Kernels {
  const char* name;  // "scalar", "avx2", "neon"
  // sum_i (a_i - b_i)^2
  float (*l2sq)(const float* a, const float* b, size_t n);
  // sum_i a_i * b_i
  float (*dot)(const float* a, const float* b, size_t n);
  // int8 codes: exact integer results (n <= 65536 so int32 cannot overflow)
  int32_t (*l2sq_i8)(const int8_t* a, const int8_t* b, size_t n);
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t n);
  // popcount(a xor b) over nbytes bytes
  uint32_t (*hamming)(const uint8_t* a, const uint8_t* b, size_t nbytes);
};

const Kernels& scalar_kernels();
// nullptr when this build or this CPU does not have the instruction set.
const Kernels* avx2_kernels();
const Kernels* neon_kernels();
// The best table for this CPU, chosen once. HS_KERNELS=scalar forces the
// reference (used by tests and benchmarks).
const Kernels& kernels();

// CRC-32C (Castagnoli), hardware accelerated where available. Used for every
// section checksum (docs/format/).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace hs
