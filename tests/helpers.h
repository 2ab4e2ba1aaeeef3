#pragma once
// Shared test utilities.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace mnist::test {

template <class T>
std::vector<T> random_vector(size_t n, std::mt19937& rng, T lo = -1, T hi = 1) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// A fresh folder under the system temp dir, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mnist-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Where scripts/setup.sh puts MNIST; the end-to-end tests need it.
inline std::string mnist_data_dir() {
  const char* env = std::getenv("MNIST_DATA");
  return env && *env ? env : std::string(MNIST_SOURCE_DIR) + "/data/mnist";
}

}  // namespace mnist::test
