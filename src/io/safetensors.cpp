#include "io/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

std::string safetensors_bytes(const std::map<std::string, std::string>& metadata,
                              const std::vector<TensorRef>& tensors) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  size_t offset = 0;
  for (const auto& t : tensors) {
    const size_t bytes = t.bytes().size();
    header[t.name] = {{"dtype", t.is_int64() ? "I64" : "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + text.size() + offset);
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += text;
  for (const auto& t : tensors) {
    // Little-endian floats: the in-memory layout on every machine we build for.
    static_assert(std::endian::native == std::endian::little);
    out += t.bytes();
  }
  return out;
}

SafeTensorsFile SafeTensorsFile::read(const std::string& path) {
  return SafeTensorsFile(read_file(path), path);
}

SafeTensorsFile::SafeTensorsFile(std::string bytes, std::string what)
    : bytes_(std::move(bytes)), what_(std::move(what)) {
  auto fail = [&](const std::string& reason) -> void { throw Error(what_ + ": " + reason); };
  if (bytes_.size() < 8) fail(fmt::format("too short ({} bytes) to be a safetensors file", bytes_.size()));
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[i])) << (8 * i);
  if (header_size > bytes_.size() - 8) {
    fail(fmt::format("header size {} exceeds the file ({} bytes); not a safetensors file or truncated",
                     header_size, bytes_.size()));
  }
  data_start_ = 8 + header_size;
  json header;
  try {
    header = json::parse(bytes_.begin() + 8, bytes_.begin() + static_cast<ptrdiff_t>(data_start_));
  } catch (const json::exception&) {
    fail("header is not valid JSON; not a safetensors file or corrupt");
  }
  if (!header.is_object()) fail("header is not a JSON object");
  const size_t data_size = bytes_.size() - data_start_;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) fail("__metadata__ is not an object");
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string()) fail(fmt::format("__metadata__ value '{}' is not a string", key));
        metadata_[key] = v.get<std::string>();
      }
      continue;
    }
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets")) {
      fail(fmt::format("tensor '{}' lacks dtype, shape or data_offsets", name));
    }
    const bool int64 = value["dtype"] == "I64";
    if (value["dtype"] != "F32" && !int64) {
      const auto& dtype = value["dtype"];
      const std::string shown = dtype.is_string() ? "\"" + dtype.get<std::string>().substr(0, 16) + "\""
                                                  : std::string("of JSON type ") + dtype.type_name();
      fail(fmt::format("tensor '{}' has dtype {}, only F32 (and I64) is supported", name, shown));
    }
    const auto& shape = value["shape"];
    const auto& offsets = value["data_offsets"];
    if (!shape.is_array() || shape.size() > 8) fail(fmt::format("tensor '{}' has an invalid shape", name));
    Entry entry{};
    uint64_t count = 1;
    for (const auto& d : shape) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t{1} << 32)) {
        fail(fmt::format("tensor '{}' has an invalid shape", name));
      }
      entry.shape.push_back(d.get<int64_t>());
      constexpr uint64_t kMaxElements = uint64_t{1} << 40;
      if (d.get<uint64_t>() != 0 && count > kMaxElements / d.get<uint64_t>()) {
        fail(fmt::format("tensor '{}' has an absurd shape", name));
      }
      count *= d.get<uint64_t>();
    }
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      fail(fmt::format("tensor '{}' has invalid data_offsets", name));
    }
    const uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
    if (begin > end || end > data_size) {
      fail(fmt::format("tensor '{}' data [{}, {}) lies outside the data section ({} bytes)", name,
                       begin, end, data_size));
    }
    const size_t element = int64 ? sizeof(int64_t) : sizeof(float);
    if (end - begin != count * element) {
      fail(fmt::format("tensor '{}' has {} bytes of data, its shape needs {}", name, end - begin, count * element));
    }
    entry.int64 = int64;
    entry.begin = begin;
    entry.end = end;
    ranges.emplace_back(begin, end);
    entries_[name] = std::move(entry);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) fail("tensor data ranges overlap");
  }
}

std::vector<std::string> SafeTensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

const std::vector<int64_t>& SafeTensorsFile::shape(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) throw Error(what_ + ": has no tensor '" + name + "'");
  return it->second.shape;
}

void SafeTensorsFile::copy_to(const std::string& name, const std::vector<int64_t>& expected_shape,
                              std::span<float> out) const {
  const auto& got = shape(name);
  if (got != expected_shape) {
    throw Error(fmt::format("{}: tensor '{}' has shape [{}], the model needs [{}]", what_, name,
                            fmt::join(got, ", "), fmt::join(expected_shape, ", ")));
  }
  const Entry& e = entries_.at(name);
  if (e.int64) throw Error(fmt::format("{}: tensor '{}' has dtype I64, the model needs F32", what_, name));
  if (out.size() * sizeof(float) != e.end - e.begin) {
    throw Error(fmt::format("{}: tensor '{}' does not fit its destination", what_, name));
  }
  std::memcpy(out.data(), bytes_.data() + data_start_ + e.begin, e.end - e.begin);
}

int64_t SafeTensorsFile::int64_scalar(const std::string& name) const {
  const auto& got = shape(name);
  const Entry& e = entries_.at(name);
  if (!e.int64 || !got.empty()) {
    throw Error(fmt::format("{}: tensor '{}' is not an I64 scalar (shape [], dtype I64)", what_, name));
  }
  int64_t v = 0;
  std::memcpy(&v, bytes_.data() + data_start_ + e.begin, sizeof v);
  return v;
}

}  // namespace mnist
