#include "io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

void check_writable(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path folder = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (is_directory(path)) throw Error(path + ": is a folder, expected a file name");
  if (!is_directory(folder.string())) throw Error(path + ": folder " + folder.string() + " does not exist");
  if (::access(folder.c_str(), W_OK) != 0) fail_errno(path, "cannot write here: ");
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

}  // namespace mnist
