#pragma once
// Whole-file reads and atomic writes. Every error names the file.
#include <cstdio>
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

// Every output of the program goes through write_output (or OutputFile for
// a file written line by line), whatever the path names:
//   a regular file, or a path that does not exist yet: written atomically
//     (write_file_atomic);
//   a symbolic link: its final target is written, atomically beside the
//     target; the link stays a link;
//   a character device or a FIFO: written through in one sequential
//     stream, as cp and tee do; it is never replaced;
//   "-": standard output, for outputs that are streams; a usage error for
//     outputs that must be files;
//   a folder, a socket or a block device: refused.
// docs/reliability.md states the rules with their cases.
enum class OutputUse {
  File,    // a checkpoint or a figure: "-" is refused
  Stream,  // metrics, JSON results, converted data: "-" is standard output
};

// Writes bytes to path by the rules above. Error (or UsageError for "-")
// naming path and the reason.
void write_output(const std::string& path, std::string_view bytes, OutputUse use);

// Checks, before long work, that path could be written by the same rules:
// the folder of a file (or of a link's target) exists and is writable, a
// device or FIFO is writable, and nothing refused is named. Throws Error
// naming path (UsageError for "-" as a file).
void check_output(const std::string& path, OutputUse use = OutputUse::File);

// An output written line by line (train --metrics), by the same rules:
// a file (or a link's target) starts with `initial` and is appended to; a
// stream gets `initial` and then each line.
class OutputFile {
 public:
  OutputFile(const std::string& path, std::string_view initial, OutputUse use);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  // Writes a line and flushes it; Error naming the path on failure.
  void line(std::string_view text);
  // Flushes (to disk, for a file) and closes; Error naming the path.
  void close();

 private:
  void put(std::string_view text);

  std::string path_;
  std::FILE* file_ = nullptr;
  bool regular_ = false, owned_ = true;
};

// The file a path writes to: the final target of a symbolic link (which
// need not exist yet), else the path itself.
std::string output_target(const std::string& path);

// Keeps the regular file that path writes to (output_target) before it is
// replaced: hard-linked (copied where links are not possible) as
// STEM.N.EXT beside it, N one more than any such copy already there.
// Returns the copy's path, or "" when there is no regular file to keep.
std::string keep_earlier_version(const std::string& path);

// Whether two paths name the same existing file (links followed); false if either is missing.
bool same_file(const std::string& a, const std::string& b);

bool is_directory(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace mnist
