#include "optim/hyper.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "util/error.h"

namespace mnist {

using nlohmann::json;

Hyper real(const char* key, double fallback, double lo, double hi, const char* help, bool lo_open, bool hi_open) {
  return {key, Hyper::Kind::Real, {fallback}, lo, hi, lo_open, hi_open, help};
}
Hyper integer(const char* key, double fallback, double lo, double hi, const char* help) {
  return {key, Hyper::Kind::Integer, {fallback}, lo, hi, false, false, help};
}
Hyper toggle(const char* key, const char* help) { return {key, Hyper::Kind::Switch, {0}, 0, 1, false, false, help}; }
Hyper pair(const char* key, double first, double second, double lo, double hi, const char* help, bool lo_open) {
  return {key, Hyper::Kind::Pair, {first, second}, lo, hi, lo_open, false, help};
}
Hyper list(const char* key, double lo, const char* help) {
  return {key, Hyper::Kind::List, {}, lo, 1e300, false, false, help};
}

std::string flag_of(const std::string& key) {
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

double HyperValues::number(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) throw std::logic_error("hyperparameter '" + key + "' is not set");
  return it->second[0];
}

const std::vector<double>& HyperValues::values(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("hyperparameter '" + key + "' is not set");
  return it->second;
}

namespace {

const Hyper* find_hyper(const std::vector<Hyper>& hypers, const std::string& key) {
  for (const Hyper& h : hypers) {
    if (key == h.key) return &h;
  }
  return nullptr;
}

// "must be in [0, 1)", "must be >= 0", "must be > 0".
std::string range_text(const Hyper& h) {
  const bool has_lo = h.lo > -1e299, has_hi = h.hi < 1e299;
  if (has_lo && has_hi) {
    return fmt::format("in {}{:g}, {:g}{}", h.lo_open ? "(" : "[", h.lo, h.hi, h.hi_open ? ")" : "]");
  }
  if (has_lo) return fmt::format("{} {:g}", h.lo_open ? ">" : ">=", h.lo);
  if (has_hi) return fmt::format("{} {:g}", h.hi_open ? "<" : "<=", h.hi);
  return "a finite number";
}

void check_value(const Hyper& h, const std::vector<double>& v) {
  const std::string flag = flag_of(h.key);
  const std::string shown = fmt::format("{}", fmt::join(v, " "));
  if (h.kind == Hyper::Kind::Pair && v.size() != 2) {
    throw UsageError(fmt::format("{}: takes two values, got {}", flag, v.size()));
  }
  if (h.kind != Hyper::Kind::Pair && h.kind != Hyper::Kind::List && v.size() != 1) {
    throw UsageError(fmt::format("{}: takes one value, got {}", flag, v.size()));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i];
    if (!std::isfinite(x)) throw UsageError(fmt::format("{}: must be a finite number, got {}", flag, shown));
    const bool whole = h.kind == Hyper::Kind::Integer || h.kind == Hyper::Kind::List || h.kind == Hyper::Kind::Switch;
    if (whole && x != std::floor(x)) throw UsageError(fmt::format("{}: must be a whole number, got {}", flag, shown));
    const bool below = h.lo_open ? !(x > h.lo) : !(x >= h.lo), above = h.hi_open ? !(x < h.hi) : !(x <= h.hi);
    if (below || above) {
      throw UsageError(h.kind == Hyper::Kind::List
                           ? fmt::format("{}: must be increasing whole numbers {}, got {}", flag, range_text(h),
                                         fmt::join(v, ","))
                           : fmt::format("{}: must be {}, got {}", flag, range_text(h), shown));
    }
    if (h.kind == Hyper::Kind::List && i > 0 && !(x > v[i - 1])) {
      throw UsageError(
          fmt::format("{}: must be increasing whole numbers {}, got {}", flag, range_text(h), fmt::join(v, ",")));
    }
  }
}

}  // namespace

void resolve_hypers(HyperValues& values, const std::vector<Hyper>& hypers, const std::string& subject) {
  for (const auto& [key, v] : values.all()) {
    if (find_hyper(hypers, key) == nullptr) {
      throw UsageError(fmt::format("{}: does not apply to {}", flag_of(key), subject));
    }
  }
  for (const Hyper& h : hypers) {
    if (!values.has(h.key)) {
      if (h.fallback.empty()) continue;  // an optional list
      values.set(h.key, h.fallback);
    }
    check_value(h, values.values(h.key));
  }
}

void hypers_to_json(const HyperValues& values, const std::vector<Hyper>& hypers, json& out) {
  for (const Hyper& h : hypers) {
    if (!values.has(h.key)) continue;
    const std::vector<double>& v = values.values(h.key);
    switch (h.kind) {
      case Hyper::Kind::Switch:
        out[h.key] = v[0] != 0;
        break;
      case Hyper::Kind::Integer:
        out[h.key] = static_cast<int64_t>(v[0]);
        break;
      case Hyper::Kind::Real:
        out[h.key] = v[0];
        break;
      case Hyper::Kind::Pair:
        out[h.key] = v;
        break;
      case Hyper::Kind::List: {
        std::vector<int64_t> ints(v.begin(), v.end());
        out[h.key] = ints;
        break;
      }
    }
  }
}

HyperValues hypers_from_json(const json& j, const std::vector<Hyper>& hypers, const std::vector<std::string>& ignore) {
  HyperValues values;
  for (const auto& [key, value] : j.items()) {
    if (std::find(ignore.begin(), ignore.end(), key) != ignore.end()) continue;
    const Hyper* h = find_hyper(hypers, key);
    if (h == nullptr) {
      if (value.is_boolean() && !value.get<bool>()) continue;  // older files list every switch
      if (value.is_array() && value.empty()) continue;         // ... and every list
      throw Error(fmt::format("'{}' is not a hyperparameter of this configuration", key));
    }
    if (value.is_boolean()) {
      values.set(key, value.get<bool>() ? 1.0 : 0.0);
    } else if (value.is_array()) {
      const auto v = value.get<std::vector<double>>();
      if (!v.empty() || h->kind != Hyper::Kind::List) values.set(key, v);
    } else if (value.is_number()) {
      values.set(key, value.get<double>());
    } else {
      throw Error(fmt::format("'{}' is not a number", key));
    }
  }
  return values;
}

}  // namespace mnist
