// Checks every SIMD kernel table available in this build and on this CPU
// against the scalar reference, and CRC-32C against a bit-at-a-time
// definition. No framework: one line per check, then a summary; the exit
// status is non-zero when any check failed. Run by run-kernel-tests.sh.
//
//   kernels_test             all checks
//   kernels_test --dispatch  only: kernels() obeys HS_KERNELS and the CPU
//   kernels_test --bench     nanoseconds per call, scalar vs SIMD (no checks)
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/kernels.h"

namespace hs::detail {
// Defined in crc32c.cc, deliberately not part of kernels.h.
uint32_t crc32c_software(const void* data, size_t n, uint32_t crc);
const char* crc32c_implementation();
}  // namespace hs::detail

namespace {

using hs::Kernels;

int passed_count = 0;
int failed_count = 0;

void report(bool ok, const std::string& line) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", line.c_str());
  ++(ok ? passed_count : failed_count);
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buffer[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buffer, sizeof buffer, fmt, args);
  va_end(args);
  return buffer;
}

constexpr size_t kDimensions[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 128, 257, 784, 1536};
constexpr int kTrials = 8;
// Starting points are shifted by up to this many elements, so no kernel can
// rely on aligned input.
constexpr size_t kShiftMax = 7;

std::vector<const Kernels*> simd_tables() {
  std::vector<const Kernels*> tables;
  for (const Kernels* table : {hs::avx2_kernels(), hs::neon_kernels()}) {
    if (table != nullptr) tables.push_back(table);
  }
  return tables;
}

// ---- float kernels --------------------------------------------------------

struct FloatPair {
  std::vector<float> a, b;
};

// Fills a and b (n elements each) for one distribution.
using FloatCase = std::function<void(std::mt19937_64&, size_t n, float* a, float* b)>;

struct NamedFloatCase {
  const char* name;
  FloatCase fill;
};

void fill_scaled_normal(std::mt19937_64& rng, size_t n, float* a, float* b, double scale) {
  std::normal_distribution<double> normal(0.0, 1.0);
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>(normal(rng) * scale);
    b[i] = static_cast<float>(normal(rng) * scale);
  }
}

// a: a random point at norm 1 - 1e-6 (the Poincaré ball boundary, DESIGN.md
// §2); b: the same point with a few coordinates moved by a few ulps. Their
// squared distance is tiny and every kernel must still get it right.
void fill_near_boundary(std::mt19937_64& rng, size_t n, float* a, float* b) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> direction(n);
  double norm_squared = 0.0;
  for (double& x : direction) {
    x = normal(rng);
    norm_squared += x * x;
  }
  const double radius = 1.0 - 1e-6;
  for (size_t i = 0; i < n; ++i) a[i] = static_cast<float>(direction[i] * radius / std::sqrt(norm_squared));
  std::copy(a, a + n, b);
  std::uniform_int_distribution<size_t> pick(0, n == 0 ? 0 : n - 1);
  std::uniform_int_distribution<int> ulps(1, 4);
  for (size_t moved = 0; n > 0 && moved < 1 + n / 8; ++moved) {
    float& x = b[pick(rng)];
    const int steps = ulps(rng);
    const float toward = (rng() & 1) ? 2.0f : -2.0f;
    for (int s = 0; s < steps; ++s) x = std::nextafter(x, toward);
  }
}

const std::vector<NamedFloatCase>& float_cases() {
  static const std::vector<NamedFloatCase> cases = {
      {"normal", [](std::mt19937_64& r, size_t n, float* a, float* b) { fill_scaled_normal(r, n, a, b, 1.0); }},
      // Products near 1e-40 are subnormal floats: SIMD lanes lose bits there.
      {"tiny 1e-20", [](std::mt19937_64& r, size_t n, float* a, float* b) { fill_scaled_normal(r, n, a, b, 1e-20); }},
      {"subnormal inputs",
       [](std::mt19937_64& r, size_t n, float* a, float* b) { fill_scaled_normal(r, n, a, b, 1e-39); }},
      {"large 1e16", [](std::mt19937_64& r, size_t n, float* a, float* b) { fill_scaled_normal(r, n, a, b, 1e16); }},
      {"mixed 1e-20..1e15",
       [](std::mt19937_64& r, size_t n, float* a, float* b) {
         std::uniform_real_distribution<double> exponent(-20.0, 15.0);
         fill_scaled_normal(r, n, a, b, 1.0);
         for (size_t i = 0; i < n; ++i) {
           a[i] = static_cast<float>(a[i] * std::pow(10.0, exponent(r)));
           b[i] = static_cast<float>(b[i] * std::pow(10.0, exponent(r)));
         }
       }},
      {"near ball boundary", fill_near_boundary},
  };
  return cases;
}

// Bound on |simd - reference|: relative 1e-4 of the condition scale (the sum
// of |terms|, so cancellation in dot does not make the bound meaningless),
// plus a few subnormal ulps per element, because float lanes round
// subnormal products to multiples of FLT_TRUE_MIN where the double
// reference does not.
double float_tolerance(double term_magnitude_sum, size_t n) {
  return 1e-4 * term_magnitude_sum + 2.0 * static_cast<double>(n + 1) * std::numeric_limits<float>::denorm_min();
}

void check_float_kernel(const Kernels& table, const char* kernel_name, bool squared_difference) {
  const Kernels& reference = hs::scalar_kernels();
  auto kernel = squared_difference ? table.l2sq : table.dot;
  auto reference_kernel = squared_difference ? reference.l2sq : reference.dot;
  for (const NamedFloatCase& c : float_cases()) {
    std::mt19937_64 rng(0x5eed0000u + static_cast<unsigned>(squared_difference));
    bool ok = true;
    std::string first_failure;
    double worst_ratio = 0.0;  // |error| / tolerance
    int calls = 0;
    for (size_t n : kDimensions) {
      std::vector<float> a(n + kShiftMax), b(n + kShiftMax);
      for (int trial = 0; trial < kTrials; ++trial) {
        float* pa = a.data() + trial % (kShiftMax + 1);
        float* pb = b.data() + (trial * 3) % (kShiftMax + 1);
        c.fill(rng, n, pa, pb);
        double magnitude = 0.0;
        for (size_t i = 0; i < n; ++i) {
          const double x = squared_difference ? static_cast<double>(pa[i] - pb[i]) : pa[i];
          const double y = squared_difference ? static_cast<double>(pa[i] - pb[i]) : pb[i];
          magnitude += std::fabs(x * y);
        }
        const double want = reference_kernel(pa, pb, n);
        const double got = kernel(pa, pb, n);
        const double tolerance = float_tolerance(magnitude, n);
        const double error = std::fabs(got - want);
        ++calls;
        worst_ratio = std::max(worst_ratio, error / tolerance);
        if (!(error <= tolerance) && ok) {
          ok = false;
          first_failure = format(" first: n=%zu trial=%d got=%.9g want=%.9g tolerance=%.3g", n, trial, got, want,
                                 tolerance);
        }
      }
    }
    report(ok, format("%s %s %s: %d calls, worst error %.3g of tolerance%s", table.name, kernel_name, c.name, calls,
                      worst_ratio, first_failure.c_str()));
  }
}

// Identical vectors must give exactly 0, also at the ball boundary.
void check_l2sq_of_identical_vectors(const Kernels& table) {
  std::mt19937_64 rng(7);
  bool ok = true;
  std::string first_failure;
  for (size_t n : kDimensions) {
    std::vector<float> a(n), unused(n);
    fill_near_boundary(rng, n, a.data(), unused.data());
    std::vector<float> b = a;
    const float got = table.l2sq(a.data(), b.data(), n);
    if (got != 0.0f && ok) {
      ok = false;
      first_failure = format(" first: n=%zu got=%g", n, got);
    }
  }
  report(ok, format("%s l2sq of identical vectors is exactly 0%s", table.name, first_failure.c_str()));
}

// ---- int8 and binary kernels: exact ----------------------------------------

template <class Value, class Kernel, class Fill>
void check_exact(const char* table_name, const char* label, Kernel kernel, Kernel reference_kernel, Fill fill,
                 const std::vector<size_t>& lengths) {
  std::mt19937_64 rng(0xc0de);
  bool ok = true;
  std::string first_failure;
  int calls = 0;
  for (size_t n : lengths) {
    std::vector<Value> a(n + 32), b(n + 32);
    for (int trial = 0; trial < kTrials; ++trial) {
      Value* pa = a.data() + (trial * 5) % 32;
      Value* pb = b.data() + (trial * 11) % 32;
      fill(rng, n, pa, pb);
      const auto want = reference_kernel(pa, pb, n);
      const auto got = kernel(pa, pb, n);
      ++calls;
      if (got != want && ok) {
        ok = false;
        first_failure = format(" first: n=%zu trial=%d got=%lld want=%lld", n, trial, static_cast<long long>(got),
                               static_cast<long long>(want));
      }
    }
  }
  report(ok, format("%s %s: %d calls, exact%s", table_name, label, calls, first_failure.c_str()));
}

std::vector<size_t> exact_lengths() {
  std::vector<size_t> lengths(std::begin(kDimensions), std::end(kDimensions));
  for (size_t n : {2u, 4u, 5u, 47u, 48u, 49u, 255u, 256u, 288u, 4099u}) lengths.push_back(n);
  return lengths;
}

void fill_int8_uniform(std::mt19937_64& rng, size_t n, int8_t* a, int8_t* b) {
  std::uniform_int_distribution<int> value(-128, 127);
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<int8_t>(value(rng));
    b[i] = static_cast<int8_t>(value(rng));
  }
}

void fill_int8_extremes(std::mt19937_64& rng, size_t n, int8_t* a, int8_t* b) {
  static constexpr int8_t kExtremes[] = {-128, 127, -127, 0, -1, 1};
  std::uniform_int_distribution<size_t> pick(0, 5);
  for (size_t i = 0; i < n; ++i) {
    a[i] = kExtremes[pick(rng) % 2];  // mostly -128 / 127: the largest products
    b[i] = kExtremes[pick(rng)];
  }
}

void fill_bytes(std::mt19937_64& rng, size_t n, uint8_t* a, uint8_t* b) {
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<uint8_t>(rng());
    b[i] = static_cast<uint8_t>(rng());
  }
}

void fill_bytes_opposite(std::mt19937_64& rng, size_t n, uint8_t* a, uint8_t* b) {
  fill_bytes(rng, n, a, b);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(~a[i]);
}

void check_integer_kernels(const Kernels& table) {
  const Kernels& reference = hs::scalar_kernels();
  const std::vector<size_t> lengths = exact_lengths();
  check_exact<int8_t>(table.name, "l2sq_i8 uniform", table.l2sq_i8, reference.l2sq_i8, fill_int8_uniform, lengths);
  check_exact<int8_t>(table.name, "l2sq_i8 extremes", table.l2sq_i8, reference.l2sq_i8, fill_int8_extremes, lengths);
  check_exact<int8_t>(table.name, "dot_i8 uniform", table.dot_i8, reference.dot_i8, fill_int8_uniform, lengths);
  check_exact<int8_t>(table.name, "dot_i8 extremes", table.dot_i8, reference.dot_i8, fill_int8_extremes, lengths);
  check_exact<uint8_t>(table.name, "hamming random bytes", table.hamming, reference.hamming, fill_bytes, lengths);
  check_exact<uint8_t>(table.name, "hamming complementary bytes", table.hamming, reference.hamming,
                       fill_bytes_opposite, lengths);
}

// The largest dimension (65536) at the worst case: l2sq_i8 reaches
// 65536 * 255^2, which only fits uint32_t; every table must wrap the same.
void check_int8_worst_case(const Kernels& table) {
  constexpr size_t n = 65536;
  std::vector<int8_t> low(n, -128), high(n, 127);
  const uint32_t l2sq = static_cast<uint32_t>(table.l2sq_i8(low.data(), high.data(), n));
  const int32_t dot = table.dot_i8(low.data(), low.data(), n);
  const bool ok = l2sq == 65536u * 255u * 255u && dot == 65536 * 128 * 128;
  report(ok, format("%s int8 worst case at n=65536: l2sq_i8 as uint32 = %" PRIu32 ", dot_i8 = %" PRId32, table.name,
                    l2sq, dot));
}

// ---- bounds: no read outside [p, p + n) ------------------------------------

// Vectors are placed flush against inaccessible pages; a kernel that reads
// past either end crashes the test (and so fails it).
void check_reads_stay_in_bounds(const Kernels& table) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto* base = static_cast<uint8_t*>(mmap(nullptr, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (base == MAP_FAILED) {
    report(false, format("%s reads stay in bounds: mmap failed", table.name));
    return;
  }
  // guard | a | b | guard
  mprotect(base, page, PROT_NONE);
  mprotect(base + 3 * page, page, PROT_NONE);
  uint8_t* region_a = base + page;
  uint8_t* region_b = base + 2 * page;
  std::memset(region_a, 0x5a, page);
  std::memset(region_b, 0xa5, page);
  int calls = 0;
  for (size_t n = 0; n <= 300; ++n) {
    const size_t bytes = n * sizeof(float);
    if (bytes > page) break;
    // Flush with the page end (b is followed by the upper guard) and with
    // the page start (a is preceded by the lower guard).
    const auto* a_at_start = reinterpret_cast<const float*>(region_a);
    const auto* b_at_end = reinterpret_cast<const float*>(region_b + page - bytes);
    table.l2sq(a_at_start, b_at_end, n);
    table.dot(b_at_end, a_at_start, n);
    const auto* ia = reinterpret_cast<const int8_t*>(region_a);
    const auto* ib = reinterpret_cast<const int8_t*>(region_b + page - n);
    table.l2sq_i8(ia, ib, n);
    table.dot_i8(ib, ia, n);
    table.hamming(region_a, region_b + page - n, n);
    calls += 5;
  }
  munmap(base, 4 * page);
  report(true, format("%s reads stay in bounds (vectors flush against guard pages): %d calls", table.name, calls));
}

// ---- dispatch ---------------------------------------------------------------

void check_dispatch() {
  const char* forced = std::getenv("HS_KERNELS");
  const bool scalar_forced = forced != nullptr && std::strcmp(forced, "scalar") == 0;
  const std::vector<const Kernels*> tables = simd_tables();
  const char* expected = scalar_forced || tables.empty() ? "scalar" : tables.front()->name;
  const char* chosen = hs::kernels().name;
  report(std::strcmp(chosen, expected) == 0,
         format("kernels() chose %s (HS_KERNELS=%s, expected %s)", chosen, forced ? forced : "unset", expected));
  report(&hs::kernels() == &hs::kernels(), "kernels() returns the same table every time");
}

// ---- CRC-32C ----------------------------------------------------------------

// The definition, one bit at a time: independent of both implementations.
uint32_t crc32c_bitwise(const uint8_t* p, size_t n, uint32_t crc) {
  uint32_t reg = ~crc;
  for (size_t i = 0; i < n; ++i) {
    reg ^= p[i];
    for (int bit = 0; bit < 8; ++bit) reg = (reg >> 1) ^ (0x82F63B78u & (0u - (reg & 1u)));
  }
  return ~reg;
}

void check_crc32c() {
  using Crc = uint32_t (*)(const void*, size_t, uint32_t);
  const Crc dispatched = [](const void* p, size_t n, uint32_t crc) { return hs::crc32c(p, n, crc); };
  const struct {
    const char* name;
    Crc crc;
  } implementations[] = {{hs::detail::crc32c_implementation(), dispatched}, {"software", hs::detail::crc32c_software}};
  std::printf("crc32c: dispatched implementation is %s\n", hs::detail::crc32c_implementation());

  // RFC 3720 (iSCSI) B.4 test vectors plus the usual check value.
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xff), ascending(32);
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<uint8_t>(i);
  const char* check = "123456789";
  for (const auto& impl : implementations) {
    const uint32_t got_check = impl.crc(check, 9, 0);
    report(got_check == 0xE3069283u, format("crc32c %s(\"123456789\") = %08" PRIX32 " (want E3069283)", impl.name,
                                            got_check));
    const bool rfc_ok = impl.crc(zeros.data(), 32, 0) == 0x8A9136AAu && impl.crc(ones.data(), 32, 0) == 0x62A8AB43u &&
                        impl.crc(ascending.data(), 32, 0) == 0x46DD794Eu && impl.crc(nullptr, 0, 0) == 0;
    report(rfc_ok, format("crc32c %s RFC 3720 vectors (32 zeros, 32 x ff, 0..31) and empty input", impl.name));
  }

  std::mt19937_64 rng(0xcc32);
  std::vector<uint8_t> data(4096 + 16);
  for (uint8_t& x : data) x = static_cast<uint8_t>(rng());

  for (const auto& impl : implementations) {
    bool ok = true;
    std::string first_failure;
    for (size_t start = 0; start < 8; ++start) {
      for (size_t n = 0; n <= 100; ++n) {
        const uint32_t want = crc32c_bitwise(data.data() + start, n, 0);
        const uint32_t got = impl.crc(data.data() + start, n, 0);
        if (got != want && ok) {
          ok = false;
          first_failure = format(" first: start=%zu n=%zu got=%08" PRIX32 " want=%08" PRIX32, start, n, got, want);
        }
      }
    }
    report(ok, format("crc32c %s = bitwise definition for starts 0..7, lengths 0..100%s", impl.name,
                      first_failure.c_str()));

    ok = true;
    const uint32_t whole = impl.crc(data.data() + 3, 300, 0);
    for (size_t split = 0; split <= 300; ++split) {
      const uint32_t chained = impl.crc(data.data() + 3 + split, 300 - split, impl.crc(data.data() + 3, split, 0));
      ok = ok && chained == whole;
    }
    const uint32_t three_parts = impl.crc(check + 7, 2, impl.crc(check + 2, 5, impl.crc(check, 2, 0)));
    ok = ok && three_parts == 0xE3069283u;
    report(ok, format("crc32c %s chains: crc(b, crc(a)) = crc(a + b) at every split of 300 bytes", impl.name));
  }

  std::vector<uint8_t> large((1 << 20) + 13);
  for (uint8_t& x : large) x = static_cast<uint8_t>(rng());
  const uint32_t large_hardware = hs::crc32c(large.data() + 1, large.size() - 1);
  const uint32_t large_software = hs::detail::crc32c_software(large.data() + 1, large.size() - 1, 0);
  const uint32_t large_bitwise = crc32c_bitwise(large.data() + 1, large.size() - 1, 0);
  report(large_hardware == large_software && large_software == large_bitwise,
         format("crc32c of 1 MiB + 12 bytes agrees: %s, software, bitwise", hs::detail::crc32c_implementation()));
}

// ---- micro-benchmark ----------------------------------------------------------

template <class Call>
double nanoseconds_per_call(Call call, size_t calls_per_round) {
  using Clock = std::chrono::steady_clock;
  double best = 1e300;
  for (int round = 0; round < 5; ++round) {
    const auto start = Clock::now();
    call();
    const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    best = std::min(best, ns / static_cast<double>(calls_per_round));
  }
  return best;
}

constexpr size_t kBenchVectors = 256;  // all in L2: measures the kernel, not memory
constexpr size_t kBenchRepeats = 200;
volatile double bench_sink = 0.0;  // keeps the calls from being optimized away

// One line per table: the query against kBenchVectors random vectors of n
// elements, kBenchRepeats times. kernel_of picks the function from a table.
template <class Value, class KernelOf>
void bench_kernel(const char* label, size_t n, KernelOf kernel_of, std::mt19937_64& rng) {
  std::vector<Value> base(kBenchVectors * n), query(n);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_value = [&] {
    if constexpr (std::is_floating_point_v<Value>) return normal(rng);
    else return static_cast<Value>(rng());
  };
  for (Value& x : base) x = random_value();
  for (Value& x : query) x = random_value();
  std::vector<const Kernels*> tables = simd_tables();
  tables.insert(tables.begin(), &hs::scalar_kernels());
  for (const Kernels* table : tables) {
    const auto kernel = kernel_of(*table);
    const double ns = nanoseconds_per_call(
        [&] {
          double sum = 0.0;
          for (size_t r = 0; r < kBenchRepeats; ++r) {
            for (size_t v = 0; v < kBenchVectors; ++v) sum += kernel(query.data(), base.data() + v * n, n);
          }
          bench_sink = bench_sink + sum;
        },
        kBenchVectors * kBenchRepeats);
    std::printf("bench %-8s n=%-5zu %-7s %8.1f ns/call\n", label, n, table->name, ns);
  }
}

void run_benchmark() {
  std::printf("benchmark: best of 5 rounds, %zu calls each, vectors in cache\n", kBenchVectors * kBenchRepeats);
  std::mt19937_64 rng(1);
  for (size_t n : {100u, 784u, 1536u}) bench_kernel<float>("l2sq", n, [](const Kernels& k) { return k.l2sq; }, rng);
  bench_kernel<float>("dot", 784, [](const Kernels& k) { return k.dot; }, rng);
  bench_kernel<int8_t>("l2sq_i8", 784, [](const Kernels& k) { return k.l2sq_i8; }, rng);
  for (size_t n : {96u, 192u, 4096u}) {
    bench_kernel<uint8_t>("hamming", n, [](const Kernels& k) { return k.hamming; }, rng);
  }
  std::vector<uint8_t> block(1 << 20);
  for (uint8_t& x : block) x = static_cast<uint8_t>(rng());
  using Crc = uint32_t (*)(const void*, size_t, uint32_t);
  for (const auto& [name, crc] : {std::pair<const char*, Crc>{hs::detail::crc32c_implementation(), hs::crc32c},
                                  {"software", hs::detail::crc32c_software}}) {
    const double ns = nanoseconds_per_call([&] { bench_sink = bench_sink + crc(block.data(), block.size(), 0); }, 1);
    std::printf("bench crc32c   1 MiB   %-9s %6.2f GB/s\n", name, static_cast<double>(block.size()) / ns);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Line-buffered, so the lines before a crash (a read past a guard page)
  // still reach a pipe.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--bench") {
    run_benchmark();
    return 0;
  }
  if (!mode.empty() && mode != "--dispatch") {
    std::fprintf(stderr, "usage: kernels_test [--dispatch | --bench]\n");
    return 2;
  }
  std::string names = "scalar";
  for (const Kernels* table : simd_tables()) names += std::string(" ") + table->name;
  std::printf("kernel tables in this build on this CPU: %s\n", names.c_str());
  check_dispatch();
  if (mode.empty()) {
    for (const Kernels* table : simd_tables()) {
      check_float_kernel(*table, "l2sq", true);
      check_float_kernel(*table, "dot", false);
      check_l2sq_of_identical_vectors(*table);
      check_integer_kernels(*table);
      check_int8_worst_case(*table);
    }
    // The reference itself must also survive the bounds and worst-case checks.
    for (const Kernels* table : {&hs::scalar_kernels()}) check_int8_worst_case(*table);
    std::vector<const Kernels*> all = simd_tables();
    all.push_back(&hs::scalar_kernels());
    for (const Kernels* table : all) check_reads_stay_in_bounds(*table);
    check_crc32c();
  }
  std::printf("kernels: %d passed, %d failed\n", passed_count, failed_count);
  return failed_count == 0 ? 0 : 1;
}
