#pragma once
// Whole-file reads and atomic writes. Every error names the file.
#include <string>
#include <string_view>

namespace mnist {

// Reads a file into memory; throws Error("PATH: reason").
std::string read_file(const std::string& path);

// The first n bytes of a file (fewer if it is shorter), its size, and
// exactly n bytes from offset into dst. Error("PATH: reason") on failure.
std::string read_file_head(const std::string& path, size_t n);
uint64_t file_size(const std::string& path);
void read_file_range(const std::string& path, uint64_t offset, void* dst, size_t n);

// Writes bytes to path atomically: a temporary file in the same folder,
// flushed to disk, then renamed over path. On any failure the temporary file
// is removed, path is untouched, and Error names path and the reason. A
// process killed at any moment leaves path as it was (and at most a
// temporary file, which the next successful write of path removes).
void write_file_atomic(const std::string& path, std::string_view bytes);

// Checks, before long work, that path could be written: its folder exists
// and is writable, and path is not a folder. Throws Error naming path.
void check_writable(const std::string& path);

bool is_directory(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace mnist
