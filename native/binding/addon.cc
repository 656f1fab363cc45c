// Thin node-addon-api binding over the C++ core. It checks only what it must
// to stay memory-safe (sizes, alignment); the TS facade (native/index.ts)
// validates everything a user can get wrong and words the errors.
#include <fcntl.h>
#include <napi.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <thread>

#include "../core/hnsw.h"
#include "../core/index_format.h"
#include "../core/kernels.h"

namespace {

using hs::IndexView;

// A `data` error the facade turns into HyperspaceError('data', ...).
Napi::Error data_error(Napi::Env env, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("kind", Napi::String::New(env, "data"));
  return e;
}

const uint8_t* optional_bits(const Napi::Value& v, uint32_t count, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  auto bits = v.As<Napi::Uint8Array>();
  if (bits.ByteLength() < (size_t(count) + 7) / 8)
    throw Napi::RangeError::New(v.Env(), std::string(what) + " bitset too short");
  return bits.Data();
}

Napi::Value KernelName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), hs::kernels().name);
}

Napi::Value Crc32c(const Napi::CallbackInfo& info) {
  auto bytes = info[0].As<Napi::Uint8Array>();
  uint32_t seed = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  return Napi::Number::New(info.Env(), hs::crc32c(bytes.Data(), bytes.ByteLength(), seed));
}

void FreeBlob(Napi::Env, uint8_t*, std::vector<uint8_t>* blob) { delete blob; }

class BuildWorker : public Napi::AsyncWorker {
 public:
  BuildWorker(Napi::Env env, Napi::Float32Array vectors, hs::IndexParams p, uint32_t threads)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)),
        vectors_(vectors.Data()), params_(p), threads_(threads) {
    keep_ = Napi::Persistent(vectors);  // the input stays alive until OnOK/OnError
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      blob_ = new std::vector<uint8_t>(hs::build_index(vectors_, params_, threads_));
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    auto buffer = Napi::Buffer<uint8_t>::New(Env(), blob_->data(), blob_->size(), FreeBlob, blob_);
    deferred_.Resolve(buffer);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Float32Array> keep_;
  const float* vectors_;
  hs::IndexParams params_;
  uint32_t threads_;
  std::vector<uint8_t>* blob_ = nullptr;
};

// build(vectors, dimension, count, metric, quant, m, efConstruction, seed, threads)
Napi::Value Build(const Napi::CallbackInfo& info) {
  auto vectors = info[0].As<Napi::Float32Array>();
  hs::IndexParams p;
  p.dimension = info[1].As<Napi::Number>().Uint32Value();
  p.count = info[2].As<Napi::Number>().Uint32Value();
  p.metric = hs::Metric(info[3].As<Napi::Number>().Uint32Value());
  p.quant = hs::Quant(info[4].As<Napi::Number>().Uint32Value());
  p.m = info[5].As<Napi::Number>().Uint32Value();
  p.ef_construction = info[6].As<Napi::Number>().Uint32Value();
  p.seed = uint64_t(info[7].As<Napi::Number>().Int64Value());
  uint32_t threads = info[8].As<Napi::Number>().Uint32Value();
  if (vectors.ElementLength() != size_t(p.dimension) * p.count)
    throw Napi::RangeError::New(info.Env(), "vectors length does not match count x dimension");
  auto* worker = new BuildWorker(info.Env(), vectors, p, threads);
  auto promise = worker->promise();
  worker->Queue();
  return promise;
}

// mmap a file read-only; the returned Buffer unmaps when collected.
Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  std::string path = info[0].As<Napi::String>();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Napi::Error::New(info.Env(), "mmap: cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw Napi::Error::New(info.Env(), "mmap: cannot stat " + path + ": " + std::strerror(err));
  }
  size_t size = size_t(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Napi::Buffer<uint8_t>::New(info.Env(), 0);
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) throw Napi::Error::New(info.Env(), "mmap: " + path + ": " + std::strerror(err));
  auto* hint = new size_t(size);
  return Napi::Buffer<uint8_t>::New(
      info.Env(), static_cast<uint8_t*>(addr), size,
      [](Napi::Env, uint8_t* data, size_t* len) {
        ::munmap(data, *len);
        delete len;
      },
      hint);
}

// Results go into caller-owned arrays (the facade's reusable scratch): typed
// arrays created here cost microseconds each, more than a small search.
// Returns { positions, distances } views of `count` results.
struct Output {
  uint32_t* positions;
  float* distances;
};
Output output_arrays(const Napi::Value& positions, const Napi::Value& distances, uint32_t k) {
  auto pos = positions.As<Napi::Uint32Array>();
  auto dist = distances.As<Napi::Float32Array>();
  if (pos.ElementLength() < k || dist.ElementLength() < k)
    throw Napi::RangeError::New(positions.Env(), "output arrays shorter than k");
  return {pos.Data(), dist.Data()};
}

// flatSearch(vectors, count, dimension, metric, query, k, allow, deleted, outPositions, outDistances) -> n
Napi::Value FlatSearch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto vectors = info[0].As<Napi::Float32Array>();
  uint32_t count = info[1].As<Napi::Number>().Uint32Value();
  uint32_t dim = info[2].As<Napi::Number>().Uint32Value();
  auto metric = hs::Metric(info[3].As<Napi::Number>().Uint32Value());
  auto query = info[4].As<Napi::Float32Array>();
  uint32_t k = info[5].As<Napi::Number>().Uint32Value();
  if (vectors.ElementLength() < size_t(count) * dim || query.ElementLength() != dim)
    throw Napi::RangeError::New(env, "flatSearch: sizes do not match");
  const uint8_t* allow = optional_bits(info[6], count, "allow");
  const uint8_t* deleted = optional_bits(info[7], count, "deleted");
  k = std::min(k, count);
  Output out = output_arrays(info[8], info[9], k);
  thread_local std::vector<float> q;
  q.resize(dim);
  hs::prepare_query(metric, query.Data(), dim, q.data());
  uint32_t n = hs::flat_search(metric, vectors.Data(), count, dim, nullptr, 0, q.data(), k, allow,
                               deleted, out.positions, out.distances);
  return Napi::Number::New(env, n);
}

hs::SearchOptions search_options(const Napi::Object& o, uint32_t count) {
  hs::SearchOptions s;
  s.k = o.Get("k").As<Napi::Number>().Uint32Value();
  s.ef = o.Get("ef").As<Napi::Number>().Uint32Value();
  s.rerank = o.Get("rerank").As<Napi::Number>().Uint32Value();
  s.flat_threshold = o.Get("flatThreshold").As<Napi::Number>().Uint32Value();
  s.allow = optional_bits(o.Get("allow"), count, "allow");
  s.deleted = optional_bits(o.Get("deleted"), count, "deleted");
  return s;
}

class NativeIndex : public Napi::ObjectWrap<NativeIndex> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeIndex",
                       {InstanceMethod("search", &NativeIndex::Search),
                        InstanceMethod("searchBatch", &NativeIndex::SearchBatch),
                        InstanceMethod("info", &NativeIndex::Info)});
  }

  NativeIndex(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeIndex>(info) {
    auto bytes = info[0].As<Napi::Uint8Array>();
    bool verify = info[1].ToBoolean();
    try {
      view_ = hs::open_index(bytes.Data(), bytes.ByteLength(), verify);
    } catch (const hs::FormatError& e) {
      throw data_error(info.Env(), e.what());
    }
    keep_ = Napi::Persistent(bytes);
  }

 private:
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("dimension", view_.params.dimension);
    o.Set("count", view_.params.count);
    o.Set("metric", uint32_t(view_.params.metric));
    o.Set("quantization", uint32_t(view_.params.quant));
    o.Set("m", view_.params.m);
    o.Set("efConstruction", view_.params.ef_construction);
    o.Set("maxLevel", view_.max_level);
    o.Set("bytes", double(view_.total_bytes));
    // Byte offset of the vectors section, so callers can view vectors in place.
    o.Set("vectorsOffset",
          double(reinterpret_cast<const uint8_t*>(view_.vectors) - keep_.Value().Data()));
    return o;
  }

  // search(query, k, ef, rerank, flatThreshold, allow, deleted, outPositions, outDistances) -> n
  // Positional arguments and caller-owned outputs: building an options object
  // or new typed arrays here costs more than a small search.
  Napi::Value Search(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto query = info[0].As<Napi::Float32Array>();
    if (query.ElementLength() != view_.params.dimension)
      throw Napi::RangeError::New(env, "query dimension mismatch");
    hs::SearchOptions o;
    o.k = info[1].As<Napi::Number>().Uint32Value();
    o.ef = info[2].As<Napi::Number>().Uint32Value();
    o.rerank = info[3].As<Napi::Number>().Uint32Value();
    o.flat_threshold = info[4].As<Napi::Number>().Uint32Value();
    o.allow = optional_bits(info[5], view_.params.count, "allow");
    o.deleted = optional_bits(info[6], view_.params.count, "deleted");
    o.k = std::min(o.k, view_.params.count);
    Output out = output_arrays(info[7], info[8], o.k);
    return Napi::Number::New(env, hs::search(view_, query.Data(), o, out.positions, out.distances));
  }

  class BatchWorker : public Napi::AsyncWorker {
   public:
    BatchWorker(Napi::Env env, NativeIndex* index, Napi::Float32Array queries, hs::SearchOptions o,
                uint32_t threads)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), view_(index->view_),
          queries_(queries.Data()), nq_(uint32_t(queries.ElementLength() / index->view_.params.dimension)),
          o_(o), threads_(threads) {
      keep_queries_ = Napi::Persistent(queries);
      // Bitsets are JS memory the caller may change: copy them (small, once per batch).
      const size_t bytes = (size_t(index->view_.params.count) + 7) / 8;
      if (o.allow) allow_.assign(o.allow, o.allow + bytes), o_.allow = allow_.data();
      if (o.deleted) deleted_.assign(o.deleted, o.deleted + bytes), o_.deleted = deleted_.data();
      keep_index_ = Napi::Persistent(index->Value());
      pos_.assign(size_t(nq_) * o.k, 0xFFFFFFFFu);
      dist_.assign(size_t(nq_) * o.k, std::numeric_limits<float>::infinity());
      counts_.assign(nq_, 0);
    }
    Napi::Promise promise() { return deferred_.Promise(); }
    void Execute() override {
      std::atomic<uint32_t> next{0};
      auto work = [&]() {
        for (uint32_t i = next++; i < nq_; i = next++) {
          const float* q = queries_ + size_t(i) * view_.params.dimension;
          counts_[i] = hs::search(view_, q, o_, pos_.data() + size_t(i) * o_.k, dist_.data() + size_t(i) * o_.k);
        }
      };
      std::vector<std::thread> pool;
      for (uint32_t t = 1; t < threads_; t++) pool.emplace_back(work);
      work();
      for (auto& t : pool) t.join();
    }
    void OnOK() override {
      Napi::Env env = Env();
      auto pos = Napi::Uint32Array::New(env, pos_.size());
      auto dist = Napi::Float32Array::New(env, dist_.size());
      auto counts = Napi::Uint32Array::New(env, counts_.size());
      std::copy(pos_.begin(), pos_.end(), pos.Data());
      std::copy(dist_.begin(), dist_.end(), dist.Data());
      std::copy(counts_.begin(), counts_.end(), counts.Data());
      Napi::Object out = Napi::Object::New(env);
      out.Set("positions", pos);
      out.Set("distances", dist);
      out.Set("counts", counts);
      deferred_.Resolve(out);
    }
    void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

   private:
    Napi::Promise::Deferred deferred_;
    const IndexView& view_;
    Napi::Reference<Napi::Float32Array> keep_queries_;
    Napi::ObjectReference keep_index_;
    const float* queries_;
    uint32_t nq_;
    hs::SearchOptions o_;
    uint32_t threads_;
    std::vector<uint32_t> pos_;
    std::vector<float> dist_;
    std::vector<uint32_t> counts_;
    std::vector<uint8_t> allow_, deleted_;
  };

  // searchBatch(queries, options, threads) -> Promise<{ positions, distances, counts }>
  Napi::Value SearchBatch(const Napi::CallbackInfo& info) {
    auto queries = info[0].As<Napi::Float32Array>();
    if (queries.ElementLength() % view_.params.dimension != 0)
      throw Napi::RangeError::New(info.Env(), "queries length is not a multiple of the dimension");
    hs::SearchOptions o = search_options(info[1].As<Napi::Object>(), view_.params.count);
    uint32_t threads = std::max<uint32_t>(1, info[2].As<Napi::Number>().Uint32Value());
    auto* worker = new BatchWorker(info.Env(), this, queries, o, threads);
    auto promise = worker->promise();
    worker->Queue();
    return promise;
  }

  IndexView view_;
  Napi::Reference<Napi::Uint8Array> keep_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("kernelName", Napi::Function::New(env, KernelName));
  exports.Set("crc32c", Napi::Function::New(env, Crc32c));
  exports.Set("build", Napi::Function::New(env, Build));
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile));
  exports.Set("flatSearch", Napi::Function::New(env, FlatSearch));
  exports.Set("NativeIndex", NativeIndex::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(hyperspace_native, Init)
