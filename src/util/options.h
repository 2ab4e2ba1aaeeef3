#pragma once
// Checking a subcommand's options: one-line UsageErrors that name the flag.
#include <string>

#include "util/error.h"

namespace mnist {

inline void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

}  // namespace mnist
