// The native index blob: header, section table and a zero-copy view over it.
// Spec: docs/format/index.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "space.h"

namespace hs {

constexpr uint32_t kIndexMagic = 0x58495348;  // "HSIX" little-endian
constexpr uint16_t kIndexVersion = 1;
constexpr uint32_t kHeaderBytes = 128;
constexpr uint32_t kSectionAlign = 64;
constexpr uint32_t kNoEntry = 0xFFFFFFFFu;

enum SectionType : uint32_t {
  kSectionQuant = 1,
  kSectionUpper = 2,
  kSectionAux = 3,
  kSectionCodes = 4,
  kSectionLayer0 = 5,
  kSectionVectors = 6,
};

// A corrupt or malformed blob. The binding maps it to the `data` error kind.
struct FormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct IndexParams {
  uint32_t dimension = 0;
  uint32_t count = 0;
  Metric metric = Metric::L2;
  Quant quant = Quant::None;
  uint32_t m = 16;
  uint32_t ef_construction = 200;
  uint64_t seed = 1;
};

// Everything the search needs, as pointers into the (mapped) blob.
struct IndexView {
  IndexParams params;
  uint32_t m0 = 32;
  uint32_t max_level = 0;
  uint32_t entry = kNoEntry;
  uint32_t upper_count = 0;
  const uint32_t* upper_position = nullptr;
  const uint32_t* upper_level = nullptr;
  const uint32_t* upper_first_block = nullptr;
  const uint32_t* upper_blocks = nullptr;
  const float* mean = nullptr;  // quantized only
  float scale = 1;
  const float* aux = nullptr;  // 4 floats per record
  const uint8_t* codes = nullptr;
  uint32_t code_bytes = 0;
  const uint32_t* layer0 = nullptr;
  const float* vectors = nullptr;
  uint64_t total_bytes = 0;

  const float* vector(uint32_t pos) const { return vectors + size_t(pos) * params.dimension; }
  const uint32_t* links0(uint32_t pos) const { return layer0 + size_t(pos) * (m0 + 1); }
  // Links of upper node u on level l >= 1.
  const uint32_t* links_upper(uint32_t u, uint32_t l) const {
    return upper_blocks + size_t(upper_first_block[u] + l - 1) * (params.m + 1);
  }
};

// Parse and check the header and section table; verify every section's
// checksum when verify is true. Throws FormatError naming what is wrong.
IndexView open_index(const uint8_t* data, size_t size, bool verify);

// Section builder used by the HNSW writer.
class BlobWriter {
 public:
  void add(uint32_t type, const void* data, size_t bytes);
  // The finished blob (header + table + sections, aligned, checksummed).
  std::vector<uint8_t> finish(const IndexParams& p, uint32_t m0, uint32_t max_level,
                              uint32_t entry);

 private:
  struct Pending {
    uint32_t type;
    std::vector<uint8_t> bytes;
  };
  std::vector<Pending> sections_;
};

size_t code_bytes_for(Quant q, uint32_t dimension);

}  // namespace hs
