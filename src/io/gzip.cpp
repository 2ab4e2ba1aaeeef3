#include "io/gzip.h"

#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

namespace {

// Whether every byte from offset on is zero: padding after the last gzip
// member (tape blocks), which gzip -d accepts.
bool only_zeros_from(std::string_view bytes, size_t offset) {
  return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end(), [](char c) { return c == 0; });
}

// The inflated size the gzip trailer announces (modulo 2^32): a good first
// guess that saves growing the buffer step by step. Deflate inflates at
// most about 1032:1, so a damaged trailer cannot make us allocate gigabytes.
size_t inflated_size_guess(std::string_view bytes, size_t max_bytes) {
  size_t guess = bytes.size() * 4;
  if (bytes.size() >= 18) {
    uint32_t isize = 0;
    for (int i = 0; i < 4; ++i) {
      isize |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[bytes.size() - 4 + i])) << (8 * i);
    }
    if (isize >= bytes.size() / 2) guess = std::min<size_t>(isize, bytes.size() * 1032);
  }
  return std::min(max_bytes, std::max<size_t>(guess, 1 << 16));
}

// Grows out to size, keeping kReadPadding spare bytes past its end (a JSON
// parser can then read in place: simdjson needs 64).
void resize_padded(std::string& out, size_t size) {
  out.reserve(size + kReadPadding);
  out.resize(size);
}

std::string too_large(const std::string& what, size_t max_bytes) {
  return what + ": gzip content is larger than " + std::to_string(max_bytes >> 20) + " MiB";
}

// zlib's streaming inflate: slower than libdeflate, but it tells a truncated
// stream from a corrupt one, so errors are reported from here.
std::string zlib_gunzip(std::string_view bytes, const std::string& what, size_t max_bytes) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error(what + ": cannot start zlib");
  std::string out;
  resize_padded(out, inflated_size_guess(bytes, max_bytes));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  size_t produced = 0;
  for (;;) {
    if (produced == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&zs);
        throw Error(too_large(what, max_bytes));
      }
      resize_padded(out, std::min(max_bytes, out.size() * 2));
    }
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(std::min<size_t>(out.size() - produced, 1u << 30));
    const uInt before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0 || only_zeros_from(bytes, bytes.size() - zs.avail_in)) break;
      inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      throw Error(what + ": truncated gzip data");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string reason = zs.msg ? zs.msg : "invalid data";
      inflateEnd(&zs);
      throw Error(what + ": corrupt gzip data (" + reason + ")");
    }
  }
  inflateEnd(&zs);
  out.resize(produced);
  return out;
}

}  // namespace

std::string gunzip_if_compressed(std::string bytes, const std::string& what, size_t max_bytes) {
  if (!is_gzip(bytes)) return bytes;
  // libdeflate inflates whole buffers two to three times as fast as zlib.
  // Member by member; a member that does not fit is inflated again into a
  // larger buffer. Any fault is handed to zlib for a precise message.
  struct Decompressor {
    libdeflate_decompressor* d = libdeflate_alloc_decompressor();
    ~Decompressor() { libdeflate_free_decompressor(d); }
  } inflater;
  if (inflater.d == nullptr) throw std::bad_alloc();
  std::string out;
  resize_padded(out, inflated_size_guess(bytes, max_bytes));
  size_t consumed = 0, produced = 0;
  while (consumed < bytes.size()) {
    size_t in_used = 0, out_used = 0;
    const libdeflate_result rc =
        libdeflate_gzip_decompress_ex(inflater.d, bytes.data() + consumed, bytes.size() - consumed,
                                      out.data() + produced, out.size() - produced, &in_used, &out_used);
    if (rc == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (out.size() >= max_bytes) throw Error(too_large(what, max_bytes));
      resize_padded(out, std::min(max_bytes, out.size() * 2));
      continue;
    }
    if (rc != LIBDEFLATE_SUCCESS) return zlib_gunzip(bytes, what, max_bytes);
    consumed += in_used;
    produced += out_used;
    if (only_zeros_from(bytes, consumed)) break;
    if (!is_gzip(std::string_view(bytes).substr(consumed))) return zlib_gunzip(bytes, what, max_bytes);
  }
  out.resize(produced);
  return out;
}

std::string read_maybe_gzip(const std::string& path) {
  return gunzip_if_compressed(read_file(path), path);
}

std::string gzip_compress(std::string_view bytes, int level) {
  if (bytes.size() >= (size_t{1} << 32) - 1) throw Error("gzip: input of 4 GiB or more is not supported");
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error("cannot start zlib");
  }
  std::string out;
  out.resize(deflateBound(&zs, bytes.size()) + 64);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = static_cast<uInt>(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw Error("gzip compression failed");
  out.resize(zs.total_out);
  return out;
}

}  // namespace mnist
