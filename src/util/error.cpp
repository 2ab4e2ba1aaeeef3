#include "util/error.h"

#include <cstdio>
#include <cstdlib>

namespace mnist {

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "mnist: internal error: %s failed at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace mnist
