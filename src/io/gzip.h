#pragma once
// gzip streams: inflating (libdeflate, with zlib for streams libdeflate
// cannot size) and deflating. Every error names the source.
#include <string>
#include <string_view>

namespace mnist {

// Inflated text comes with at least this much spare capacity past its end.
constexpr size_t kReadPadding = 64;

// Whether bytes start with the gzip magic (1f 8b).
inline bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// If bytes start with the gzip magic, inflates them (all members);
// otherwise returns them unchanged. what names the source in errors.
// Output larger than max_bytes is refused rather than exhausting memory.
std::string gunzip_if_compressed(std::string bytes, const std::string& what,
                                 size_t max_bytes = size_t{4} << 30);

// Reads a file, inflating it if it is gzip-compressed.
std::string read_maybe_gzip(const std::string& path);

// Deflates bytes into a gzip stream.
std::string gzip_compress(std::string_view bytes, int level = 6);

}  // namespace mnist
