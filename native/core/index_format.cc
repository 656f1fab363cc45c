// Spec: docs/format/index.md.
#include "index_format.h"

#include <cstring>

namespace hs {
namespace {

template <typename T>
T read_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // little-endian hosts only (x86_64, aarch64, wasm)
  return v;
}

template <typename T>
void write_le(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}

size_t align_up(size_t n) { return (n + kSectionAlign - 1) / kSectionAlign * kSectionAlign; }

struct Section {
  uint32_t type, crc;
  uint64_t offset, length;
};

std::string section_name(uint32_t type) {
  switch (type) {
    case kSectionQuant: return "quant";
    case kSectionUpper: return "upper";
    case kSectionAux: return "aux";
    case kSectionCodes: return "codes";
    case kSectionLayer0: return "layer0";
    case kSectionVectors: return "vectors";
  }
  return "type " + std::to_string(type);
}

void expect(bool ok, const std::string& what) {
  if (!ok) throw FormatError("index blob: " + what);
}

}  // namespace

size_t code_bytes_for(Quant q, uint32_t dimension) {
  switch (q) {
    case Quant::Int8: return dimension;
    case Quant::Binary: return (dimension + 7) / 8;
    default: return 0;
  }
}

void BlobWriter::add(uint32_t type, const void* data, size_t bytes) {
  Pending p{type, std::vector<uint8_t>(bytes)};
  if (bytes) std::memcpy(p.bytes.data(), data, bytes);
  sections_.push_back(std::move(p));
}

std::vector<uint8_t> BlobWriter::finish(const IndexParams& p, uint32_t m0, uint32_t max_level,
                                        uint32_t entry) {
  const size_t table_end = kHeaderBytes + 24 * sections_.size();
  size_t total = align_up(table_end);
  std::vector<Section> table;
  for (auto& s : sections_) {
    table.push_back({s.type, crc32c(s.bytes.data(), s.bytes.size()), total, s.bytes.size()});
    total = align_up(total + s.bytes.size());
  }
  std::vector<uint8_t> out(total, 0);
  uint8_t* h = out.data();
  write_le<uint32_t>(h + 0, kIndexMagic);
  write_le<uint16_t>(h + 4, kIndexVersion);
  write_le<uint16_t>(h + 6, kHeaderBytes);
  write_le<uint32_t>(h + 8, p.dimension);
  write_le<uint32_t>(h + 12, p.count);
  h[16] = uint8_t(p.metric);
  h[17] = uint8_t(p.quant);
  write_le<uint16_t>(h + 18, uint16_t(sections_.size()));
  write_le<uint32_t>(h + 20, p.m);
  write_le<uint32_t>(h + 24, m0);
  write_le<uint32_t>(h + 28, p.ef_construction);
  write_le<uint32_t>(h + 32, max_level);
  write_le<uint32_t>(h + 36, entry);
  write_le<uint64_t>(h + 40, p.seed);
  write_le<uint64_t>(h + 48, uint64_t(total));
  for (size_t i = 0; i < table.size(); i++) {
    uint8_t* t = h + kHeaderBytes + 24 * i;
    write_le<uint32_t>(t + 0, table[i].type);
    write_le<uint32_t>(t + 4, table[i].crc);
    write_le<uint64_t>(t + 8, table[i].offset);
    write_le<uint64_t>(t + 16, table[i].length);
    if (table[i].length)
      std::memcpy(h + table[i].offset, sections_[i].bytes.data(), table[i].length);
  }
  write_le<uint32_t>(h + 56, crc32c(h, table_end));
  sections_.clear();
  return out;
}

IndexView open_index(const uint8_t* data, size_t size, bool verify) {
  expect(size >= kHeaderBytes, "too short for a header: " + std::to_string(size) + " bytes");
  expect((reinterpret_cast<uintptr_t>(data) & 7) == 0, "buffer is not 8-byte aligned");
  expect(read_le<uint32_t>(data) == kIndexMagic, "bad magic (not an HSIX index)");
  const uint16_t version = read_le<uint16_t>(data + 4);
  expect(version == kIndexVersion, "unsupported format version " + std::to_string(version));
  const uint16_t sections = read_le<uint16_t>(data + 18);
  const size_t table_end = kHeaderBytes + 24 * size_t(sections);
  expect(size >= table_end, "truncated section table");
  {
    std::vector<uint8_t> head(data, data + table_end);
    std::memset(head.data() + 56, 0, 4);
    expect(crc32c(head.data(), head.size()) == read_le<uint32_t>(data + 56),
           "header checksum mismatch");
  }
  IndexView v;
  v.params.dimension = read_le<uint32_t>(data + 8);
  v.params.count = read_le<uint32_t>(data + 12);
  expect(data[16] <= 3, "unknown metric " + std::to_string(data[16]));
  expect(data[17] <= 2, "unknown quantization " + std::to_string(data[17]));
  v.params.metric = Metric(data[16]);
  v.params.quant = Quant(data[17]);
  v.params.m = read_le<uint32_t>(data + 20);
  v.m0 = read_le<uint32_t>(data + 24);
  v.params.ef_construction = read_le<uint32_t>(data + 28);
  v.max_level = read_le<uint32_t>(data + 32);
  v.entry = read_le<uint32_t>(data + 36);
  v.params.seed = read_le<uint64_t>(data + 40);
  v.total_bytes = read_le<uint64_t>(data + 48);
  expect(v.params.dimension >= 1 && v.params.dimension <= 65536, "dimension out of range");
  expect(v.params.m >= 2 && v.params.m <= 1024 && v.m0 >= v.params.m && v.m0 <= 4096,
         "link counts out of range");
  expect(v.total_bytes <= size, "truncated: header says " + std::to_string(v.total_bytes) +
                                    " bytes, have " + std::to_string(size));
  expect(v.params.count == 0 ? v.entry == kNoEntry : v.entry < v.params.count,
         "entry point out of range");

  const uint64_t n = v.params.count, dim = v.params.dimension;
  v.code_bytes = uint32_t(code_bytes_for(v.params.quant, v.params.dimension));
  const uint8_t* found[7] = {};
  uint64_t lengths[7] = {};
  for (size_t i = 0; i < sections; i++) {
    const uint8_t* t = data + kHeaderBytes + 24 * i;
    const uint32_t type = read_le<uint32_t>(t);
    const uint32_t crc = read_le<uint32_t>(t + 4);
    const uint64_t off = read_le<uint64_t>(t + 8), len = read_le<uint64_t>(t + 16);
    expect(off % kSectionAlign == 0 && off <= v.total_bytes && len <= v.total_bytes - off,
           "section " + section_name(type) + " out of bounds");
    if (verify)
      expect(crc32c(data + off, len) == crc, "section " + section_name(type) + " checksum mismatch");
    if (type >= 1 && type <= 6) {
      found[type] = data + off;
      lengths[type] = len;
    }
  }
  auto need = [&](uint32_t type, uint64_t bytes) {
    expect(found[type] != nullptr, "missing section " + section_name(type));
    expect(lengths[type] == bytes, "section " + section_name(type) + " has " +
                                       std::to_string(lengths[type]) + " bytes, expected " +
                                       std::to_string(bytes));
    return found[type];
  };
  v.aux = reinterpret_cast<const float*>(need(kSectionAux, n * 16));
  v.layer0 = reinterpret_cast<const uint32_t*>(need(kSectionLayer0, n * (v.m0 + 1) * 4));
  v.vectors = reinterpret_cast<const float*>(need(kSectionVectors, n * dim * 4));
  if (v.params.quant != Quant::None) {
    const uint8_t* q = need(kSectionQuant, dim * 4 + 4);
    v.mean = reinterpret_cast<const float*>(q);
    std::memcpy(&v.scale, q + dim * 4, 4);
    v.codes = need(kSectionCodes, n * v.code_bytes);
  }
  expect(found[kSectionUpper] != nullptr && lengths[kSectionUpper] >= 8, "missing section upper");
  const uint8_t* up = found[kSectionUpper];
  v.upper_count = read_le<uint32_t>(up);
  const uint64_t u = v.upper_count;
  expect(u <= n, "upper node count exceeds record count");
  v.upper_position = reinterpret_cast<const uint32_t*>(up + 8);
  v.upper_level = v.upper_position + u;
  v.upper_first_block = v.upper_level + u;
  v.upper_blocks = v.upper_first_block + u;
  uint64_t blocks = 0;
  for (uint64_t i = 0; i < u && 8 + 12 * u <= lengths[kSectionUpper]; i++) {
    expect(v.upper_position[i] < n && v.upper_level[i] >= 1 && v.upper_level[i] <= v.max_level,
           "upper node " + std::to_string(i) + " out of range");
    blocks += v.upper_level[i];
  }
  expect(lengths[kSectionUpper] == 8 + 12 * u + blocks * (v.params.m + 1) * 4,
         "section upper has the wrong size");
  expect(v.max_level == 0 || (u > 0 && v.upper_position[0] == v.entry),
         "entry point is not the first upper node");
  return v;
}

}  // namespace hs
