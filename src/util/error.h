#pragma once
// The two kinds of failure a user can meet. Messages are one line that names
// the thing (file, flag) and the reason; the CLI maps them to exit codes.
#include <stdexcept>

namespace mnist {

// Something the program met at run time: a missing or corrupt file, a full
// disk, a model that does not fit the data. Exit code 1.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The program was called wrongly: an unknown flag, an invalid value, flags
// that make no sense together. Exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A check of the program's own invariants (a buffer size, a batch that must
// fit a workspace), kept in release builds: a wrong size would corrupt
// memory, so it stops the program with the condition and the place instead.
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);
#define MNIST_ASSERT(condition) \
  ((condition) ? static_cast<void>(0) : ::mnist::assertion_failed(#condition, __FILE__, __LINE__))

}  // namespace mnist
