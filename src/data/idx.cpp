#include "data/idx.h"

#include <fmt/format.h>

#include "io/file.h"
#include "io/gzip.h"
#include "util/error.h"
#include "util/memory.h"

namespace mnist {

namespace {

uint32_t read_be32(std::string_view bytes, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void put_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

// Checks the header (at the start of bytes) against the file's total
// length; returns the dimensions.
std::vector<uint32_t> parse_header(std::string_view bytes, uint64_t file_size, const std::string& what, int dims,
                                   const char* kind) {
  const uint32_t expected_magic = 0x0800u | static_cast<uint32_t>(dims);
  if (bytes.size() < 4) {
    throw Error(fmt::format("{}: file is too short ({} bytes) to be IDX {}", what, bytes.size(), kind));
  }
  const uint32_t magic = read_be32(bytes, 0);
  if (magic != expected_magic) {
    throw Error(fmt::format("{}: bad magic number 0x{:08x}, expected 0x{:08x} (IDX unsigned-byte {})",
                            what, magic, expected_magic, kind));
  }
  const size_t header = 4 + 4 * static_cast<size_t>(dims);
  if (bytes.size() < header) {
    throw Error(fmt::format("{}: truncated IDX header ({} of {} bytes)", what, bytes.size(), header));
  }
  std::vector<uint32_t> shape;
  uint64_t total = 1;
  for (int d = 0; d < dims; ++d) {
    shape.push_back(read_be32(bytes, 4 + 4 * static_cast<size_t>(d)));
    if (shape.back() == 0) throw Error(fmt::format("{}: dimension {} is zero", what, d));
    total *= shape.back();
    if (total > (uint64_t{1} << 36)) throw Error(fmt::format("{}: dimensions are absurdly large", what));
  }
  const uint64_t expected = header + total;
  if (file_size != expected) {
    throw Error(fmt::format("{}: {} ({} bytes, the header says {})", what,
                            file_size < expected ? "truncated" : "has trailing bytes", file_size, expected));
  }
  return shape;
}

ImageSet images_from_shape(const std::vector<uint32_t>& shape, const std::string& what) {
  if (shape[0] > 0x7fffffffu || shape[1] > 4096 || shape[2] > 4096) {
    throw Error(fmt::format("{}: image dimensions {}x{}x{} are out of range", what, shape[0], shape[1], shape[2]));
  }
  ImageSet set;
  set.count = static_cast<int>(shape[0]);
  set.rows = static_cast<int>(shape[1]);
  set.cols = static_cast<int>(shape[2]);
  return set;
}

}  // namespace

ImageSet parse_idx_images(std::string_view bytes, const std::string& what) {
  ImageSet set = images_from_shape(parse_header(bytes, bytes.size(), what, 3, "images"), what);
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data()) + 16;
  const size_t n = static_cast<size_t>(set.count) * set.image_size();
  set.pixels.reserve(n);
  advise_huge_pages(set.pixels.data(), n);
  set.pixels.assign(data, data + n);
  return set;
}

std::vector<uint8_t> parse_idx_labels(std::string_view bytes, const std::string& what,
                                      int num_classes) {
  const auto shape = parse_header(bytes, bytes.size(), what, 1, "labels");
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data()) + 8;
  std::vector<uint8_t> labels(data, data + shape[0]);
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes) {
      throw Error(fmt::format("{}: label {} at index {} is out of range 0..{}", what, labels[i], i,
                              num_classes - 1));
    }
  }
  return labels;
}

ImageSet read_idx_images(const std::string& path) {
  // A raw file is read straight into the pixel buffer, so the images are
  // never in memory twice (47 MB for MNIST's training set).
  std::string head = read_file_head(path, 16);
  if (is_gzip(head)) {
    return parse_idx_images(read_maybe_gzip(path), path);
  }
  const uint64_t size = file_size(path);
  ImageSet set = images_from_shape(parse_header(head, size, path, 3, "images"), path);
  const size_t n = static_cast<size_t>(set.count) * set.image_size();
  set.pixels.reserve(n);
  advise_huge_pages(set.pixels.data(), n);  // before the first touch
  set.pixels.resize(n);
  read_file_range(path, 16, set.pixels.data(), set.pixels.size());
  return set;
}

std::vector<uint8_t> read_idx_labels(const std::string& path, int num_classes) {
  return parse_idx_labels(read_maybe_gzip(path), path, num_classes);
}

std::string idx_images_bytes(const ImageSet& images) {
  std::string out;
  put_be32(out, 0x0803);
  put_be32(out, static_cast<uint32_t>(images.count));
  put_be32(out, static_cast<uint32_t>(images.rows));
  put_be32(out, static_cast<uint32_t>(images.cols));
  out.append(reinterpret_cast<const char*>(images.pixels.data()), images.pixels.size());
  return out;
}

std::string idx_labels_bytes(const std::vector<uint8_t>& labels) {
  std::string out;
  put_be32(out, 0x0801);
  put_be32(out, static_cast<uint32_t>(labels.size()));
  out.append(reinterpret_cast<const char*>(labels.data()), labels.size());
  return out;
}

}  // namespace mnist
