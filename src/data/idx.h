#pragma once
// The IDX format of LeCun's MNIST files: a big-endian header (two zero bytes,
// a type code, the number of dimensions, then each dimension as a 32-bit
// integer) followed by the data. Images are type 0x08 (unsigned byte) with 3
// dimensions (count, rows, cols); labels are type 0x08 with 1 dimension.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"

namespace mnist {

// Parse from memory (already inflated). what names the source in errors.
ImageSet parse_idx_images(std::string_view bytes, const std::string& what);
std::vector<uint8_t> parse_idx_labels(std::string_view bytes, const std::string& what,
                                      int num_classes);

// Read a file, raw or gzip-compressed.
ImageSet read_idx_images(const std::string& path);
std::vector<uint8_t> read_idx_labels(const std::string& path, int num_classes);

// Serialise (uncompressed).
std::string idx_images_bytes(const ImageSet& images);
std::string idx_labels_bytes(const std::vector<uint8_t>& labels);

}  // namespace mnist
