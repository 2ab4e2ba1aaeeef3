#pragma once
// Checking a subcommand's options: one-line UsageErrors that name the flag.
#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <string>

#include "util/error.h"

namespace mnist {

inline void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

// Fills an unset option with its default, or refuses one that was set but
// does not apply to `subject` (e.g. "--optimizer adam"). Values must be finite.
template <class T>
void settle(std::optional<T>& value, bool applies, T fallback, const char* flag, const std::string& subject) {
  if (!applies) {
    require(!value.has_value(), fmt::format("{}: does not apply to {}", flag, subject));
    return;
  }
  if (!value) value = fallback;
  require(std::isfinite(static_cast<double>(*value)), fmt::format("{}: must be a finite number, got {}", flag, *value));
}

// A switch that was given but does not apply to `subject`.
inline void check_flag(bool set, bool applies, const char* flag, const std::string& subject) {
  require(!set || applies, fmt::format("{}: does not apply to {}", flag, subject));
}

}  // namespace mnist
