#include "io/file.h"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <new>

#include "util/error.h"

namespace mnist {

namespace {

[[noreturn]] void fail_errno(const std::string& path, const std::string& doing) {
  throw Error(path + ": " + doing + std::strerror(errno));
}

}  // namespace

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(path, "cannot open: ");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail_errno(path, "cannot stat: ");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw Error(path + ": is a folder, expected a file");
  }
  std::string bytes;
  bytes.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      ::close(fd);
      fail_errno(path, "read failed: ");
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  ::close(fd);
  bytes.resize(done);
  return bytes;
}

namespace {

// An open file descriptor that closes itself.
struct Fd {
  int fd;
  explicit Fd(const std::string& path) : fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd < 0) fail_errno(path, "cannot open: ");
  }
  ~Fd() { ::close(fd); }
};

// Reads up to n bytes at offset; returns how many were read.
size_t pread_all(int fd, const std::string& path, uint64_t offset, char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = ::pread(fd, dst + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_errno(path, "read failed: ");
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

}  // namespace

std::string read_file_head(const std::string& path, size_t n) {
  if (is_directory(path)) throw Error(path + ": is a folder, expected a file");
  Fd f(path);
  std::string out(n, '\0');
  out.resize(pread_all(f.fd, path, 0, out.data(), n));
  return out;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno(path, "cannot stat: ");
  return static_cast<uint64_t>(st.st_size);
}

void read_file_range(const std::string& path, uint64_t offset, void* dst, size_t n) {
  Fd f(path);
  if (pread_all(f.fd, path, offset, static_cast<char*>(dst), n) != n) throw Error(path + ": file changed while reading");
}


void write_file_atomic(const std::string& path, std::string_view bytes) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.filename().empty()) throw Error(path + ": not a file name");
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // ".NAME.tmp." (built with append: GCC 12 warns falsely on "." + string).
  const std::string temp_prefix = std::string(".").append(target.filename().string()).append(".tmp.");
  std::string tmp = (folder / (temp_prefix + "XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) fail_errno(path, "cannot write: ");
  auto fail = [&](const std::string& doing) {
    const int saved = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    errno = saved;
    fail_errno(path, doing);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t put = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail("write failed: ");
    done += static_cast<size_t>(put);
  }
  if (::fchmod(fd, 0644) != 0) fail("cannot set permissions: ");
  if (::fsync(fd) != 0) fail("cannot flush to disk: ");
  if (::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    fail_errno(path, "write failed: ");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    errno = saved;
    fail_errno(path, "cannot replace: ");
  }
  // Make the rename itself durable.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  // Temporary files of earlier writers of this path that were killed
  // (SIGKILL, power cut) before they could rename or clean up.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.path().filename().string().rfind(temp_prefix, 0) == 0) fs::remove(entry.path(), ec);
  }
}

namespace {

// What a path writes to, after following symbolic links.
struct Target {
  enum Kind { Regular, Missing, Stream, Stdout } kind;
  std::string path;  // the final target
};

Target resolve(const std::string& path, OutputUse use) {
  namespace fs = std::filesystem;
  if (path == "-") {
    if (use == OutputUse::File) {
      throw UsageError("-: standard output cannot take this output (a checkpoint or a figure); give a file name");
    }
    return {Target::Stdout, path};
  }
  if (path.empty()) throw UsageError("an output path is empty; give a file name");
  std::string p = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return {Target::Missing, p};
      fail_errno(path, "cannot inspect: ");
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops >= 40) throw Error(path + ": too many levels of symbolic links");
      std::error_code ec;
      const fs::path link = fs::read_symlink(p, ec);
      if (ec) throw Error(path + ": cannot read the link: " + ec.message());
      p = link.is_absolute() ? link.string() : (fs::path(p).parent_path() / link).string();
      continue;
    }
    if (S_ISREG(st.st_mode)) return {Target::Regular, p};
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) return {Target::Stream, p};
    if (S_ISDIR(st.st_mode)) throw Error(path + ": is a folder, expected a file name");
    if (S_ISSOCK(st.st_mode)) throw Error(path + ": is a socket; an output must be a file, a device or a FIFO");
    if (S_ISBLK(st.st_mode)) throw Error(path + ": is a block device; refusing to write over it");
    throw Error(path + ": is not a file, a device or a FIFO");
  }
}

// The folder of a file target must exist and be writable.
void check_folder(const std::string& path, const std::string& target) {
  namespace fs = std::filesystem;
  const fs::path t(target);
  if (t.filename().empty()) throw Error(path + ": not a file name");
  const fs::path folder = t.has_parent_path() ? t.parent_path() : fs::path(".");
  if (!is_directory(folder.string())) throw Error(path + ": folder " + folder.string() + " does not exist");
  if (::access(folder.c_str(), W_OK) != 0) fail_errno(path, "cannot write here: ");
}

// Opens a device or FIFO for writing, never creating or replacing it. A
// FIFO's open waits for its reader, as cp's does.
int open_stream(const std::string& path, const std::string& target) {
  const int fd = ::open(target.c_str(), O_WRONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) fail_errno(path, "cannot open for writing: ");
  return fd;
}

void write_all(int fd, std::string_view bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t put = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (put < 0 && errno == EINTR) continue;
    if (put < 0) fail_errno(path, "write failed: ");
    done += static_cast<size_t>(put);
  }
}

}  // namespace

std::string keep_earlier_version(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string target = output_target(path);
  if (target.empty() || target == "-" || !file_exists(target)) return "";
  const fs::path file(target);
  const std::string stem = file.stem().string(), ext = file.extension().string();
  const fs::path folder = file.has_parent_path() ? file.parent_path() : fs::path(".");
  auto digits = [](const std::string& t) {
    return !t.empty() && t.size() <= 9 && std::all_of(t.begin(), t.end(), [](unsigned char c) { return c >= '0' && c <= '9'; });
  };
  long last = 0;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= stem.size() + ext.size() + 1 || name.rfind(stem + ".", 0) != 0 ||
        name.compare(name.size() - ext.size(), ext.size(), ext) != 0) {
      continue;
    }
    const std::string middle = name.substr(stem.size() + 1, name.size() - stem.size() - 1 - ext.size());
    if (digits(middle)) last = std::max(last, std::stol(middle));
  }
  if (ec) throw Error(fmt::format("{}: cannot list {} to keep the earlier file: {}", path, folder.string(), ec.message()));
  // A new name is taken without ever replacing one: a hard link where the
  // file system has them, else a copy renamed into place with no replace.
  // Another process taking the same number makes us try the next.
  for (long n = last + 1;; ++n) {
    const fs::path kept = folder / (stem + "." + std::to_string(n) + ext);
    const std::string shown = file.has_parent_path() ? kept.string() : kept.filename().string();
    if (::link(target.c_str(), kept.c_str()) == 0) return shown;
    if (errno == EEXIST) continue;
    const std::string copy = kept.string() + ".partial";
    write_file_atomic(copy, read_file(target));
    if (::renameat2(AT_FDCWD, copy.c_str(), AT_FDCWD, kept.c_str(), RENAME_NOREPLACE) == 0) return shown;
    const int error = errno;
    if (error == EINVAL && !fs::exists(kept) && ::rename(copy.c_str(), kept.c_str()) == 0) return shown;  // no RENAME_NOREPLACE here
    ::unlink(copy.c_str());
    if (error == EEXIST) continue;
    throw Error(fmt::format("{}: cannot keep the earlier file as {}: {}", path, shown, std::strerror(error)));
  }
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  const bool same = std::filesystem::equivalent(a, b, ec);
  return !ec && same;
}

std::string output_target(const std::string& path) {
  if (path == "-" || path.empty()) return path;
  return resolve(path, OutputUse::Stream).path;
}

void check_output(const std::string& path, OutputUse use) {
  const Target t = resolve(path, use);
  switch (t.kind) {
    case Target::Stdout:
      return;
    case Target::Stream:
      if (::access(t.path.c_str(), W_OK) != 0) fail_errno(path, "cannot write: ");
      return;
    case Target::Regular:
    case Target::Missing:
      check_folder(path, t.path);
      return;
  }
}

void write_output(const std::string& path, std::string_view bytes, OutputUse use) {
  const Target t = resolve(path, use);
  switch (t.kind) {
    case Target::Stdout: {
      std::fflush(stdout);
      write_all(STDOUT_FILENO, bytes, "standard output");
      return;
    }
    case Target::Stream: {
      const int fd = open_stream(path, t.path);
      try {
        write_all(fd, bytes, path);
      } catch (...) {
        ::close(fd);
        throw;
      }
      if (::close(fd) != 0) fail_errno(path, "write failed: ");
      return;
    }
    case Target::Regular:
    case Target::Missing:
      check_folder(path, t.path);
      write_file_atomic(t.path, bytes);
      return;
  }
}

OutputFile::OutputFile(const std::string& path, std::string_view initial, OutputUse use) : path_(path) {
  const Target t = resolve(path, use);
  if (t.kind == Target::Stdout) {
    file_ = stdout;
    owned_ = false;
  } else if (t.kind == Target::Stream) {
    const int fd = open_stream(path, t.path);
    file_ = ::fdopen(fd, "w");
    if (file_ == nullptr) {
      ::close(fd);
      fail_errno(path, "cannot open for writing: ");
    }
  } else {
    check_folder(path, t.path);
    write_file_atomic(t.path, initial);  // what a resumed run keeps, in place at once
    initial = {};
    file_ = std::fopen(t.path.c_str(), "a");
    if (file_ == nullptr) fail_errno(path, "cannot open for writing: ");
    regular_ = true;
  }
  put(initial);
}

void OutputFile::put(std::string_view text) {
  if (text.empty()) return;  // fwrite's buffer must not be null, even for 0 bytes
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size()) fail_errno(path_, "write failed: ");
}

OutputFile::~OutputFile() {
  if (file_ != nullptr && owned_) std::fclose(file_);
}

void OutputFile::line(std::string_view text) {
  put(text);
  if (std::fputc('\n', file_) == EOF || std::fflush(file_) != 0) fail_errno(path_, "write failed: ");
}

void OutputFile::close() {
  if (file_ == nullptr) return;
  bool ok = std::fflush(file_) == 0;
  if (ok && regular_) ok = ::fsync(::fileno(file_)) == 0;  // a FIFO or a device has no disk to flush to
  const int err = errno;
  const bool closed = !owned_ || std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) {
    errno = ok ? errno : err;
    fail_errno(path_, "write failed: ");
  }
}

}  // namespace mnist
