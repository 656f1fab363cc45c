// HNSW (Malkov & Yashunin) with hnswlib's neighbour heuristic, built in
// memory with per-node spinlocks, then written as a blob that search reads in
// place (docs/format/index.md).
#include "hnsw.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <mutex>
#include <thread>

#include "quantizer.h"

namespace hs {
namespace {

struct Candidate {
  float key;
  uint32_t pos;
};
struct Closer {  // min-heap by key
  bool operator()(const Candidate& a, const Candidate& b) const { return a.key > b.key; }
};
struct Farther {  // max-heap by key
  bool operator()(const Candidate& a, const Candidate& b) const { return a.key < b.key; }
};

inline void hs_prefetch(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 3);
#else
  (void)p;
#endif
}

// Prefetch up to `lines` cache lines from p: the first lines of a vector or
// code; the hardware prefetcher follows the rest of a long vector.
inline void prefetch_lines(const void* p, size_t bytes, size_t lines) {
  const char* c = static_cast<const char*>(p);
  const size_t n = std::min(lines, (bytes + 63) / 64);
  for (size_t i = 0; i < n; i++) hs_prefetch(c + 64 * i);
}

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The order records are inserted in: a seeded shuffle of the positions. Input
// that arrives sorted (by cluster — segments store records in cluster order,
// docs/format/segment.md §8 — by time, by category) would otherwise build a
// graph with fewer long-range links and lower recall at the same ef.
std::vector<uint32_t> insertion_order(uint64_t seed, uint32_t n) {
  std::vector<uint32_t> order(n);
  for (uint32_t i = 0; i < n; i++) order[i] = i;
  for (uint32_t i = n; i > 1; i--) {
    const uint32_t j = uint32_t(splitmix64(seed ^ (0xA5A5A5A5ull + i)) % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

uint32_t random_level(uint64_t seed, uint32_t pos, double mult) {
  double u = (double(splitmix64(seed + pos) >> 11) + 1.0) / 9007199254740993.0;  // (0, 1]
  double level = -std::log(u) * mult;
  return uint32_t(std::min(level, 16.0));
}

// Visited marks reused across searches: a 16-bit tag per node, bumped per
// search (half the cache footprint of 32-bit tags; cleared every 65535 searches).
struct Visited {
  std::vector<uint16_t> tags;
  uint16_t tag = 0;
  void reset(size_t n) {
    if (tags.size() < n) tags.assign(n, 0), tag = 0;
    if (++tag == 0) std::fill(tags.begin(), tags.end(), 0), tag = 1;
  }
  bool test_and_set(uint32_t i) {
    if (tags[i] == tag) return true;
    tags[i] = tag;
    return false;
  }
  void prefetch(uint32_t i) const { hs_prefetch(tags.data() + i); }
};

class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire)) {
    }
  }
  void unlock() { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

// Per-thread state of a build, reused across insertions.
struct BuildScratch {
  Visited visited;
  std::vector<Candidate> cand, top, kept, pool;
  std::vector<uint32_t> copy;
};

class Builder {
 public:
  Builder(const float* vectors, const IndexParams& p)
      : p_(p), k_(kernels()), dim_(p.dimension), n_(p.count), m0_(2 * p.m),
        vectors_(size_t(p.count) * p.dimension), alpha_(p.count, 1.0f), levels_(p.count),
        layer0_(size_t(p.count) * (2 * p.m + 1), 0), upper_(p.count), locks_(p.count) {
    for (uint32_t i = 0; i < n_; i++) prepare_query(p.metric, vectors + size_t(i) * dim_, dim_, vec(i));
    if (p.metric == Metric::Poincare)
      for (uint32_t i = 0; i < n_; i++) alpha_[i] = poincare_alpha(vec(i), dim_);
    const double mult = 1.0 / std::log(double(std::max<uint32_t>(p.m, 2)));
    for (uint32_t i = 0; i < n_; i++) {
      levels_[i] = random_level(p.seed, i, mult);
      if (levels_[i] > 0) upper_[i].assign(size_t(levels_[i]) * (p.m + 1), 0);
    }
  }

  void run(uint32_t threads) {
    if (n_ == 0) return;
    const std::vector<uint32_t> order = insertion_order(p_.seed, n_);
    entry_ = order[0];
    max_level_ = levels_[entry_];
    std::atomic<uint32_t> next{1};
    auto work = [&]() {
      BuildScratch scratch;
      for (uint32_t t = next++; t < n_; t = next++) insert(order[t], scratch);
    };
    threads = std::max<uint32_t>(1, std::min<uint32_t>(threads, 64));
    if (threads == 1 || n_ < 1000) {
      work();
    } else {
      std::vector<std::thread> pool;
      for (uint32_t t = 0; t < threads; t++) pool.emplace_back(work);
      for (auto& t : pool) t.join();
    }
  }

  std::vector<uint8_t> write() const;

 private:
  float* vec(uint32_t i) { return vectors_.data() + size_t(i) * dim_; }
  const float* vec(uint32_t i) const { return vectors_.data() + size_t(i) * dim_; }
  float key(uint32_t a, uint32_t b) const {
    return exact_key(p_.metric, k_, vec(a), vec(b), dim_, alpha_[a], alpha_[b]);
  }
  uint32_t* links(uint32_t i, uint32_t level) {
    return level == 0 ? layer0_.data() + size_t(i) * (m0_ + 1)
                      : upper_[i].data() + size_t(level - 1) * (p_.m + 1);
  }

  // Beam search on one level from ep, exact keys; leaves up to ef nearest in
  // s.top, sorted ascending.
  void search_level(uint32_t q, uint32_t ep, uint32_t ef, uint32_t level, BuildScratch& s) {
    s.visited.reset(n_);
    auto& cand = s.cand;
    auto& top = s.top;
    cand.clear();
    top.clear();
    const float d0 = key(q, ep);
    cand.push_back({d0, ep});
    top.push_back({d0, ep});
    s.visited.test_and_set(ep);
    s.copy.resize(m0_ + 1);
    uint32_t* copy = s.copy.data();
    const size_t vector_bytes = size_t(dim_) * 4;
    while (!cand.empty()) {
      Candidate c = cand.front();
      if (c.key > top.front().key && top.size() >= ef) break;
      std::pop_heap(cand.begin(), cand.end(), Closer());
      cand.pop_back();
      {
        std::lock_guard<SpinLock> g(locks_[c.pos]);
        const uint32_t* l = links(c.pos, level);
        std::copy(l, l + l[0] + 1, copy);
      }
      // Drop visited links first, then prefetch every fresh vector before the
      // first distance: the loads overlap instead of stalling one by one.
      uint32_t fresh = 0;
      for (uint32_t j = 1; j <= copy[0]; j++) {
        const uint32_t nb = copy[j];
        if (s.visited.test_and_set(nb)) continue;
        copy[++fresh] = nb;
        prefetch_lines(vec(nb), vector_bytes, 2);
      }
      for (uint32_t j = 1; j <= fresh; j++) {
        const uint32_t nb = copy[j];
        if (j < fresh) prefetch_lines(vec(copy[j + 1]), vector_bytes, 8);
        float d = key(q, nb);
        if (top.size() < ef || d < top.front().key) {
          cand.push_back({d, nb});
          std::push_heap(cand.begin(), cand.end(), Closer());
          top.push_back({d, nb});
          std::push_heap(top.begin(), top.end(), Farther());
          if (top.size() > ef) {
            std::pop_heap(top.begin(), top.end(), Farther());
            top.pop_back();
          }
        }
      }
    }
    std::sort(top.begin(), top.end(), [](const Candidate& a, const Candidate& b) {
      return a.key < b.key || (a.key == b.key && a.pos < b.pos);
    });
  }

  // hnswlib's heuristic: keep a candidate only if it is closer to the base
  // than to every neighbour already kept. Input sorted ascending.
  void select(std::vector<Candidate>& sorted, uint32_t m, std::vector<Candidate>& kept) const {
    if (sorted.size() <= m) return;
    kept.clear();
    for (const Candidate& c : sorted) {
      if (kept.size() >= m) break;
      bool good = true;
      for (const Candidate& s : kept)
        if (key(c.pos, s.pos) < c.key) {
          good = false;
          break;
        }
      if (good) kept.push_back(c);
    }
    sorted.swap(kept);
  }

  void connect(uint32_t i, uint32_t level, const std::vector<Candidate>& neighbours,
               BuildScratch& s) {
    const uint32_t cap = level == 0 ? m0_ : p_.m;
    {
      std::lock_guard<SpinLock> g(locks_[i]);
      uint32_t* l = links(i, level);
      l[0] = uint32_t(neighbours.size());
      for (size_t j = 0; j < neighbours.size(); j++) l[j + 1] = neighbours[j].pos;
    }
    for (const Candidate& nb : neighbours) {
      std::lock_guard<SpinLock> g(locks_[nb.pos]);
      uint32_t* l = links(nb.pos, level);
      if (std::find(l + 1, l + 1 + l[0], i) != l + 1 + l[0]) continue;
      if (l[0] < cap) {
        l[++l[0]] = i;
        continue;
      }
      auto& pool = s.pool;
      pool.clear();
      pool.push_back({key(nb.pos, i), i});
      for (uint32_t j = 1; j <= l[0]; j++) pool.push_back({key(nb.pos, l[j]), l[j]});
      std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) {
        return a.key < b.key || (a.key == b.key && a.pos < b.pos);
      });
      select(pool, cap, s.kept);
      l[0] = uint32_t(pool.size());
      for (size_t j = 0; j < pool.size(); j++) l[j + 1] = pool[j].pos;
    }
  }

  void insert(uint32_t i, BuildScratch& s) {
    const uint32_t level = levels_[i];
    std::unique_lock<std::mutex> top_lock(global_);
    uint32_t ep = entry_, max_level = max_level_;
    if (level <= max_level) top_lock.unlock();  // held only by a new top node
    for (uint32_t l = max_level; l > level; l--) {
      bool changed = true;
      float best = key(i, ep);
      while (changed) {
        changed = false;
        std::lock_guard<SpinLock> g(locks_[ep]);
        const uint32_t* ls = links(ep, l);
        for (uint32_t j = 1; j <= ls[0]; j++) {
          float d = key(i, ls[j]);
          if (d < best) best = d, ep = ls[j], changed = true;
        }
      }
    }
    for (int32_t l = int32_t(std::min(level, max_level)); l >= 0; l--) {
      search_level(i, ep, p_.ef_construction, uint32_t(l), s);
      std::vector<Candidate>& found = s.top;
      ep = found.front().pos;
      select(found, p_.m, s.kept);
      connect(i, uint32_t(l), found, s);
    }
    if (level > max_level) {
      entry_ = i;
      max_level_ = level;
    }
  }

  IndexParams p_;
  const Kernels& k_;
  uint32_t dim_, n_, m0_;
  std::vector<float> vectors_;
  std::vector<float> alpha_;
  std::vector<uint32_t> levels_;
  std::vector<uint32_t> layer0_;
  std::vector<std::vector<uint32_t>> upper_;
  mutable std::vector<SpinLock> locks_;
  std::mutex global_;
  uint32_t entry_ = kNoEntry, max_level_ = 0;
};

std::vector<uint8_t> Builder::write() const {
  // Upper nodes: the entry point first, then the rest in position order.
  std::vector<uint32_t> upper_pos;
  if (n_ > 0 && levels_[entry_] > 0) upper_pos.push_back(entry_);
  for (uint32_t i = 0; i < n_; i++)
    if (levels_[i] > 0 && i != entry_) upper_pos.push_back(i);
  std::vector<uint32_t> upper_index(n_, kNoEntry);
  for (uint32_t u = 0; u < upper_pos.size(); u++) upper_index[upper_pos[u]] = u;
  const uint32_t U = uint32_t(upper_pos.size());
  std::vector<uint32_t> up{U, 0};
  for (uint32_t u = 0; u < U; u++) up.push_back(upper_pos[u]);
  for (uint32_t u = 0; u < U; u++) up.push_back(levels_[upper_pos[u]]);
  uint32_t block = 0;
  for (uint32_t u = 0; u < U; u++) up.push_back(block), block += levels_[upper_pos[u]];
  for (uint32_t u = 0; u < U; u++) {
    const std::vector<uint32_t>& src = upper_[upper_pos[u]];
    for (uint32_t l = 0; l < levels_[upper_pos[u]]; l++) {
      const uint32_t* ls = src.data() + size_t(l) * (p_.m + 1);
      up.push_back(ls[0]);
      for (uint32_t j = 1; j <= p_.m; j++) up.push_back(j <= ls[0] ? upper_index[ls[j]] : 0);
    }
  }

  Quantizer q = Quantizer::train(p_.quant, vectors_.data(), n_, dim_);
  std::vector<float> aux(size_t(n_) * 4);
  for (uint32_t i = 0; i < n_; i++) q.aux(vec(i), p_.metric, aux.data() + size_t(i) * 4);
  BlobWriter w;
  if (p_.quant != Quant::None) {
    std::vector<float> qp(q.mean);
    qp.push_back(q.scale);
    w.add(kSectionQuant, qp.data(), qp.size() * 4);
  }
  w.add(kSectionUpper, up.data(), up.size() * 4);
  w.add(kSectionAux, aux.data(), aux.size() * 4);
  if (p_.quant != Quant::None) {
    std::vector<uint8_t> codes(size_t(n_) * q.code_bytes());
    for (uint32_t i = 0; i < n_; i++) q.encode(vec(i), codes.data() + size_t(i) * q.code_bytes());
    w.add(kSectionCodes, codes.data(), codes.size());
  }
  w.add(kSectionLayer0, layer0_.data(), layer0_.size() * 4);
  w.add(kSectionVectors, vectors_.data(), vectors_.size() * 4);
  return w.finish(p_, m0_, max_level_, n_ ? entry_ : kNoEntry);
}

// Per-thread search state, reused so a query allocates nothing once warm.
struct SearchScratch {
  Visited visited;
  std::vector<float> query;
  std::vector<uint8_t> code;
  std::vector<Candidate> cand, top, pool;
  std::vector<uint32_t> fresh;
  // Binary: per 4-bit group of a code, the sum of the centred query's values
  // at the set bits, for all 16 nibbles (asymmetric estimate, see below).
  std::vector<float> nibble_sums;
};
thread_local SearchScratch scratch;

// One search over a view, specialised per metric and quantization so the
// inner loop has no switches: traversal keys come from codes (quantized) or
// vectors, exact keys re-score the quantized candidates.
template <Metric M, Quant Q>
class Searcher {
 public:
  Searcher(const IndexView& v, const float* prepared_query, SearchScratch& s)
      : v_(v), k_(kernels()), q_(prepared_query), s_(s), dim_(v.params.dimension),
        count_(v.params.count) {
    if (Q != Quant::None) {
      // int8 l2/cosine/poincare rank by code distance: only α is needed.
      if (Q == Quant::Binary || M == Metric::Dot) terms_ = query_terms(v.mean, dim_, q_, M);
      else if (M == Metric::Poincare) terms_.alpha = poincare_alpha(q_, dim_);
      s.code.resize(v.code_bytes);
      encode_code(Q, v.mean, v.scale, dim_, q_, s.code.data());
      qcode_ = s.code.data();
      scale2_ = v.scale * v.scale;
      data_ = v.codes;
      stride_ = v.code_bytes;
    } else {
      if (M == Metric::Poincare) terms_.alpha = poincare_alpha(q_, dim_);
      data_ = reinterpret_cast<const uint8_t*>(v.vectors);
      stride_ = size_t(dim_) * 4;
    }
    if (Q == Quant::Binary) {
      // Asymmetric binary estimate (RaBitQ-style, without the rotation): the
      // query stays float. With q' = q − mean and b the record's bits,
      // (q−mean)·(v−mean) ≈ aux[3] · Σ_i ±q'_i (+ where b_i = 1), and that
      // sum is 2·Σ_{b_i=1} q'_i − Σ q'_i, read from 16-entry tables per nibble.
      const uint32_t nibbles = v.code_bytes * 2;
      s.nibble_sums.resize(size_t(nibbles) * 16);
      float* t = s.nibble_sums.data();
      double total = 0;
      for (uint32_t g = 0; g < nibbles; g++) {
        float x[4];
        for (uint32_t b = 0; b < 4; b++) {
          const uint32_t d = 4 * g + b;
          x[b] = d < dim_ ? q_[d] - v.mean[d] : 0.0f;
          total += x[b];
        }
        float* row = t + size_t(g) * 16;
        row[0] = 0;
        for (uint32_t nib = 1; nib < 16; nib++)
          row[nib] = row[nib & (nib - 1)] + x[__builtin_ctz(nib)];
      }
      nibble_sums_ = t;
      centred_sum_ = float(total);
      // Blobs written before aux[3] existed hold 0 there: use its expectation
      // for Gaussian-like data, ‖v−mean‖ / (sqrt(2/π)·sqrt(dimension)).
      fallback_ratio_ = 1.0f / (0.7978846f * std::sqrt(float(dim_)));
    }
    if (s.fresh.size() < v.m0) s.fresh.resize(v.m0);
  }

  float exact(uint32_t pos) const {
    return exact_key(M, k_, q_, v_.vector(pos), dim_, terms_.alpha,
                     M == Metric::Poincare ? v_.aux[size_t(pos) * 4 + 2] : 1.0f);
  }

  float traverse_key(uint32_t pos) const {
    if constexpr (Q == Quant::None) {
      return exact(pos);
    } else {
      const float* aux = v_.aux + size_t(pos) * 4;
      const uint8_t* code = data_ + size_t(pos) * stride_;
      if constexpr (Q == Quant::Int8) {
        const auto* qc = reinterpret_cast<const int8_t*>(qcode_);
        const auto* vc = reinterpret_cast<const int8_t*>(code);
        if constexpr (M == Metric::Dot) {
          return estimate_key(M, terms_, scale2_ * float(k_.dot_i8(qc, vc, dim_)), aux);
        } else {
          // ‖q−v‖² straight from the codes: the error terms shrink with ‖q−v‖,
          // so near neighbours rank best, and no per-record term is read.
          const float l2 = scale2_ * float(k_.l2sq_i8(qc, vc, dim_));
          if constexpr (M == Metric::L2) return l2;
          if constexpr (M == Metric::Cosine) return 0.5f * l2;  // unit vectors: 1 − q·v = ‖q−v‖²/2
          return l2 / (terms_.alpha * aux[2]);
        }
      } else {
        float set = 0;
        const float* t = nibble_sums_;
        for (size_t j = 0; j < stride_; j++, t += 32) set += t[code[j] & 15] + t[16 + (code[j] >> 4)];
        const float ratio = aux[3] > 0 ? aux[3] : aux[0] * fallback_ratio_;
        return estimate_key(M, terms_, ratio * (2 * set - centred_sum_), aux);
      }
    }
  }

  // Whether traverse_key reads the record's aux terms.
  static constexpr bool kReadsAux =
      Q == Quant::Binary || M == Metric::Poincare || (Q == Quant::Int8 && M == Metric::Dot);

  // Start loading what traverse_key(pos) reads.
  void prefetch(uint32_t pos, size_t lines) const {
    prefetch_lines(data_ + size_t(pos) * stride_, stride_, lines);
    if (kReadsAux) hs_prefetch(v_.aux + size_t(pos) * 4);
  }

  uint32_t descend() const {
    if (v_.max_level == 0 || v_.upper_count == 0) return v_.entry;
    uint32_t u = 0;  // the entry point is upper node 0
    float best = traverse_key(v_.upper_position[0]);
    for (uint32_t l = v_.max_level; l >= 1; l--) {
      bool changed = true;
      while (changed) {
        changed = false;
        if (v_.upper_level[u] < l) break;
        const uint32_t* ls = v_.links_upper(u, l);
        const uint32_t n = std::min(ls[0], v_.params.m);
        for (uint32_t j = 1; j <= n; j++)
          if (ls[j] < v_.upper_count) prefetch(v_.upper_position[ls[j]], 2);
        for (uint32_t j = 1; j <= n; j++) {
          const uint32_t nb = ls[j];
          if (nb >= v_.upper_count) continue;
          float d = traverse_key(v_.upper_position[nb]);
          if (d < best) best = d, u = nb, changed = true;
        }
      }
    }
    return v_.upper_position[u];
  }

  // Layer-0 beam search; results only hold accepted records, but every node
  // is a stepping stone (hnswlib's filtered search). Stops when the nearest
  // unexpanded candidate is farther than the worst of ef accepted results.
  // pool_size > ef (quantized): also keep the pool_size best estimates of all
  // visited records for the rerank, beyond the ef that steer the beam.
  void beam(uint32_t ep, uint32_t ef, uint32_t pool_size, const uint8_t* allow,
            const uint8_t* deleted) {
    auto accept = [&](uint32_t p) {
      return (!allow || bit_is_set(allow, p)) && (!deleted || !bit_is_set(deleted, p));
    };
    auto& cand = s_.cand;
    auto& top = s_.top;
    uint32_t* fresh = s_.fresh.data();
    cand.clear();
    top.clear();
    s_.visited.reset(count_);
    float d0 = traverse_key(ep);
    s_.visited.test_and_set(ep);
    cand.push_back({d0, ep});
    if (accept(ep)) top.push_back({d0, ep});
    auto& pool = s_.pool;
    pool.clear();
    const bool pooled = pool_size > ef;
    if (pooled && accept(ep)) pool.push_back({d0, ep});
    // Long float vectors: prefetch a few lines and let the hardware stream the rest.
    const size_t lines_ahead = 8;
    while (!cand.empty()) {
      Candidate c = cand.front();
      if (top.size() >= ef && c.key > top.front().key) break;
      std::pop_heap(cand.begin(), cand.end(), Closer());
      cand.pop_back();
      if (!cand.empty()) hs_prefetch(v_.links0(cand.front().pos));
      const uint32_t* ls = v_.links0(c.pos);
      const uint32_t n = std::min(ls[0], v_.m0);
      for (uint32_t j = 1; j <= n; j++)
        if (ls[j] < count_) s_.visited.prefetch(ls[j]);
      uint32_t fresh_count = 0;
      for (uint32_t j = 1; j <= n; j++) {
        const uint32_t nb = ls[j];
        if (nb >= count_ || s_.visited.test_and_set(nb)) continue;
        fresh[fresh_count++] = nb;
        prefetch(nb, 1);
      }
      for (uint32_t j = 0; j < fresh_count; j++) {
        const uint32_t nb = fresh[j];
        if (j + 1 < fresh_count) prefetch(fresh[j + 1], lines_ahead);
        const float d = traverse_key(nb);
        if (pooled && (pool.size() < pool_size || d < pool.front().key) && accept(nb)) {
          pool.push_back({d, nb});
          std::push_heap(pool.begin(), pool.end(), Farther());
          if (pool.size() > pool_size) {
            std::pop_heap(pool.begin(), pool.end(), Farther());
            pool.pop_back();
          }
        }
        if (top.size() < ef || d < top.front().key) {
          cand.push_back({d, nb});
          std::push_heap(cand.begin(), cand.end(), Closer());
          if (accept(nb)) {
            top.push_back({d, nb});
            std::push_heap(top.begin(), top.end(), Farther());
            if (top.size() > ef) {
              std::pop_heap(top.begin(), top.end(), Farther());
              top.pop_back();
            }
          }
        }
      }
    }
  }

  uint32_t finish(uint32_t k, uint32_t rerank, uint32_t* out_pos, float* out_dist) {
    auto& top = s_.pool.size() > s_.top.size() ? s_.pool : s_.top;
    auto by_key = [](const Candidate& a, const Candidate& b) {
      return a.key < b.key || (a.key == b.key && a.pos < b.pos);
    };
    std::sort(top.begin(), top.end(), by_key);
    if (Q != Quant::None) {
      if (rerank && top.size() > rerank) top.resize(std::max(rerank, k));
      const size_t vector_bytes = size_t(dim_) * 4;
      for (const Candidate& c : top) prefetch_lines(v_.vector(c.pos), vector_bytes, 2);
      for (Candidate& c : top) c.key = exact(c.pos);
      std::sort(top.begin(), top.end(), by_key);
    }
    const uint32_t out = uint32_t(std::min<size_t>(k, top.size()));
    for (uint32_t i = 0; i < out; i++) {
      out_pos[i] = top[i].pos;
      out_dist[i] = key_to_distance(M, top[i].key);
    }
    return out;
  }

 private:
  const IndexView& v_;
  const Kernels& k_;
  const float* q_;
  SearchScratch& s_;
  const uint32_t dim_, count_;
  QueryTerms terms_;
  const uint8_t* qcode_ = nullptr;
  const uint8_t* data_ = nullptr;  // codes (quantized) or vectors, stride_ bytes per record
  size_t stride_ = 0;
  float scale2_ = 1;
  const float* nibble_sums_ = nullptr;
  float centred_sum_ = 0, fallback_ratio_ = 0;
};

template <Metric M, Quant Q>
uint32_t graph_search(const IndexView& v, const float* query, const SearchOptions& o,
                      SearchScratch& s, uint32_t* out_pos, float* out_dist) {
  Searcher<M, Q> searcher(v, query, s);
  const uint32_t ef = std::max(o.ef, o.k);
  const uint32_t pool = Q == Quant::None ? 0 : o.rerank;
  searcher.beam(searcher.descend(), ef, pool, o.allow, o.deleted);
  return searcher.finish(o.k, o.rerank, out_pos, out_dist);
}

using GraphSearch = uint32_t (*)(const IndexView&, const float*, const SearchOptions&,
                                 SearchScratch&, uint32_t*, float*);

template <Metric M>
GraphSearch graph_search_for(Quant q) {
  switch (q) {
    case Quant::Int8: return graph_search<M, Quant::Int8>;
    case Quant::Binary: return graph_search<M, Quant::Binary>;
    default: return graph_search<M, Quant::None>;
  }
}

GraphSearch graph_search_for(Metric m, Quant q) {
  switch (m) {
    case Metric::Dot: return graph_search_for<Metric::Dot>(q);
    case Metric::Cosine: return graph_search_for<Metric::Cosine>(q);
    case Metric::Poincare: return graph_search_for<Metric::Poincare>(q);
    default: return graph_search_for<Metric::L2>(q);
  }
}

uint32_t popcount_bits(const uint8_t* bits, uint32_t n) {
  uint32_t c = 0, i = 0;
  for (; i + 64 <= n; i += 64) {
    uint64_t w;
    std::memcpy(&w, bits + i / 8, 8);
    c += uint32_t(__builtin_popcountll(w));
  }
  for (; i < n; i++) c += bit_is_set(bits, i);
  return c;
}

}  // namespace

void prepare_query(Metric m, const float* query, uint32_t dimension, float* out) {
  if (m != Metric::Cosine) {
    std::memcpy(out, query, size_t(dimension) * 4);
    return;
  }
  double s = 0;
  for (uint32_t i = 0; i < dimension; i++) s += double(query[i]) * query[i];
  // Already unit length (the engine normalizes before hashing the vector into
  // its Merkle leaf): keep the bits, so the stored vector is the hashed one.
  if (std::fabs(s - 1.0) <= 1e-6) {
    std::memcpy(out, query, size_t(dimension) * 4);
    return;
  }
  const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
  for (uint32_t i = 0; i < dimension; i++) out[i] = float(query[i] * inv);
}

std::vector<uint8_t> build_index(const float* vectors, const IndexParams& p, uint32_t threads) {
  Builder b(vectors, p);
  b.run(threads);
  return b.write();
}

uint32_t search(const IndexView& v, const float* query, const SearchOptions& o, uint32_t* out_pos,
                float* out_dist) {
  if (v.params.count == 0 || o.k == 0) return 0;
  SearchScratch& s = scratch;
  const float* q = query;
  if (v.params.metric == Metric::Cosine) {
    s.query.resize(v.params.dimension);
    prepare_query(v.params.metric, query, v.params.dimension, s.query.data());
    q = s.query.data();
  }
  if (o.allow && popcount_bits(o.allow, v.params.count) <= o.flat_threshold) {
    return flat_search(v.params.metric, v.vectors, v.params.count, v.params.dimension, v.aux + 2, 4,
                       q, o.k, o.allow, o.deleted, out_pos, out_dist);
  }
  return graph_search_for(v.params.metric, v.params.quant)(v, q, o, s, out_pos, out_dist);
}

uint32_t flat_search(Metric m, const float* vectors, uint32_t n, uint32_t dimension,
                     const float* alphas, size_t alpha_stride, const float* query, uint32_t k,
                     const uint8_t* allow, const uint8_t* deleted, uint32_t* out_pos,
                     float* out_dist) {
  const Kernels& kern = kernels();
  const float alpha_q = m == Metric::Poincare ? poincare_alpha(query, dimension) : 1.0f;
  std::vector<Candidate>& top = scratch.top;
  top.clear();
  for (uint32_t i = 0; i < n; i++) {
    if (allow && !bit_is_set(allow, i)) continue;
    if (deleted && bit_is_set(deleted, i)) continue;
    const float* v = vectors + size_t(i) * dimension;
    float alpha_v = 1.0f;
    if (m == Metric::Poincare)
      alpha_v = alphas ? alphas[size_t(i) * alpha_stride] : poincare_alpha(v, dimension);
    const float key = exact_key(m, kern, query, v, dimension, alpha_q, alpha_v);
    if (top.size() < k) {
      top.push_back({key, i});
      std::push_heap(top.begin(), top.end(), Farther());
    } else if (key < top.front().key) {
      std::pop_heap(top.begin(), top.end(), Farther());
      top.back() = {key, i};
      std::push_heap(top.begin(), top.end(), Farther());
    }
  }
  std::sort(top.begin(), top.end(), [](const Candidate& a, const Candidate& b) {
    return a.key < b.key || (a.key == b.key && a.pos < b.pos);
  });
  for (size_t i = 0; i < top.size(); i++) {
    out_pos[i] = top[i].pos;
    out_dist[i] = key_to_distance(m, top[i].key);
  }
  return uint32_t(top.size());
}

}  // namespace hs
