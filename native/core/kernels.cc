// Chooses the kernel table once per process (docs/kernels.md).
#include "kernels.h"

#include <cstdlib>
#include <cstring>

namespace hs {
namespace {

const Kernels& choose_kernels() {
  const char* forced = std::getenv("HS_KERNELS");
  if (forced != nullptr && std::strcmp(forced, "scalar") == 0) return scalar_kernels();
  // avx2_kernels() checks the CPU (avx2, fma, popcnt) itself; NEON is part of
  // every aarch64 CPU. Each returns nullptr on other builds.
  if (const Kernels* avx2 = avx2_kernels()) return *avx2;
  if (const Kernels* neon = neon_kernels()) return *neon;
  return scalar_kernels();
}

}  // namespace

const Kernels& kernels() {
  static const Kernels& chosen = choose_kernels();
  return chosen;
}

}  // namespace hs
