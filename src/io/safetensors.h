#pragma once
// The safetensors format (Hugging Face): an 8-byte little-endian header
// length N, N bytes of JSON header, then the raw tensor bytes. The header maps
// each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}
// (offsets relative to the data section) and may hold "__metadata__", a map
// of strings to strings. Tensors are F32, but for I64 scalars (PyTorch's
// BatchNorm num_batches_tracked).
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mnist {

struct TensorRef {
  std::string name;
  std::vector<int64_t> shape;
  std::span<const float> data;
  std::span<const int64_t> ints = {};  // an I64 tensor instead, when data is empty
  bool is_int64() const { return data.empty() && !ints.empty(); }
  // The tensor's raw little-endian bytes.
  std::string_view bytes() const {
    return is_int64() ? std::string_view(reinterpret_cast<const char*>(ints.data()), ints.size_bytes())
                      : std::string_view(reinterpret_cast<const char*>(data.data()), data.size_bytes());
  }
};

// The whole file as bytes, header padded with spaces to 8-byte alignment.
std::string safetensors_bytes(const std::map<std::string, std::string>& metadata,
                              const std::vector<TensorRef>& tensors);

class SafeTensorsFile {
 public:
  // Parses and validates bytes: header size within the file, JSON shape,
  // dtype F32, offsets inside the data and not overlapping, sizes matching
  // shapes. Throws Error("WHAT: reason").
  SafeTensorsFile(std::string bytes, std::string what);
  static SafeTensorsFile read(const std::string& path);

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  std::vector<std::string> names() const;
  const std::vector<int64_t>& shape(const std::string& name) const;
  // Copies a tensor out after checking that its shape is the expected one.
  void copy_to(const std::string& name, const std::vector<int64_t>& expected_shape,
               std::span<float> out) const;
  // An I64 scalar (shape []), or an Error naming the tensor.
  int64_t int64_scalar(const std::string& name) const;
  const std::string& what() const { return what_; }
  size_t data_size() const { return bytes_.size() - data_start_; }

 private:
  struct Entry {
    std::vector<int64_t> shape;
    size_t begin, end;
    bool int64 = false;
  };
  std::string bytes_;
  std::string what_;
  size_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, Entry> entries_;
};

}  // namespace mnist
