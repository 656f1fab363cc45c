// Chooses the kernel table once per process (docs/kernels.md).
#include "kernels.h"

#include <cstdlib>
#include <cstring>

namespace hs {

// kernels_wasm.cc: compiled only into the browser build (native/wasm/).
const Kernels* wasm_kernels();

namespace {

const Kernels& choose_kernels() {
  const char* forced = std::getenv("HS_KERNELS");
  if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return scalar_kernels();
  // avx2_kernels() checks the CPU (avx2, fma, popcnt) itself; NEON is part of
  // every aarch64 CPU. Each returns nullptr on other builds.
  if (const Kernels* avx2 = avx2_kernels()) return *avx2;
  if (const Kernels* neon = neon_kernels()) return *neon;
#if defined(__wasm_simd128__)
  // SIMD128 is fixed when the module is compiled (-msimd128), not probed.
  if (const Kernels* wasm = wasm_kernels()) return *wasm;
#endif
  return scalar_kernels();
}

}  // namespace

const Kernels& kernels() {
  static const Kernels& chosen = choose_kernels();
  return chosen;
}

}  // namespace hs
