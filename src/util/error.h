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

}  // namespace mnist
