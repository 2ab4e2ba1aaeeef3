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
Hyper optional_real(const char* key, double lo, double hi, const char* help, const char* shown, bool lo_open,
                    bool hi_open) {
  return {key, Hyper::Kind::Real, {}, lo, hi, lo_open, hi_open, help, shown};
}
Hyper integer(const char* key, double fallback, double lo, double hi, const char* help) {
  return {key, Hyper::Kind::Integer, {fallback}, lo, hi, false, false, help};
}
Hyper toggle(const char* key, const char* help, bool on) {
  return {key, Hyper::Kind::Switch, {on ? 1.0 : 0.0}, 0, 1, false, false, help};
}
Hyper pair(const char* key, double first, double second, double lo, double hi, const char* help, bool lo_open,
           bool hi_open) {
  return {key, Hyper::Kind::Tuple, {first, second}, lo, hi, lo_open, hi_open, help};
}
Hyper tuple(const char* key, std::vector<double> fallback, double lo, double hi, const char* help) {
  return {key, Hyper::Kind::Tuple, std::move(fallback), lo, hi, false, false, help};
}
Hyper list(const char* key, double lo, const char* help) {
  return {key, Hyper::Kind::List, {}, lo, 1e300, false, false, help};
}
Hyper choice(const char* key, std::vector<const char*> choices, int fallback, const char* help) {
  const auto last = static_cast<double>(choices.size()) - 1;
  return {key, Hyper::Kind::Choice, {static_cast<double>(fallback)}, 0, last, false, false, help, nullptr,
          std::move(choices)};
}

int choice_index(const Hyper& h, const std::string& name) {
  for (size_t i = 0; i < h.choices.size(); ++i) {
    if (name == h.choices[i]) return static_cast<int>(i);
  }
  throw UsageError(fmt::format("{}: must be one of {}, got '{}'", flag_of(h.key), fmt::join(h.choices, ", "), name));
}

const std::vector<HyperAlias>& hyper_aliases() {
  static const std::vector<HyperAlias> aliases = {{"beta1", "betas", 0}, {"beta2", "betas", 1}};
  return aliases;
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

const char* count_text(size_t n) {
  static const char* const words[] = {"no", "one", "two", "three", "four", "five"};
  return n < 6 ? words[n] : "several";
}

void check_value(const Hyper& h, const std::vector<double>& v) {
  const std::string flag = flag_of(h.key);
  const std::string shown = fmt::format("{}", fmt::join(v, " "));
  const size_t count = h.kind == Hyper::Kind::Tuple ? h.fallback.size() : 1;
  if (h.kind != Hyper::Kind::List && v.size() != count) {
    throw UsageError(fmt::format("{}: takes {} value{}, got {}", flag, count_text(count), count == 1 ? "" : "s",
                                 v.size()));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    const double x = v[i];
    if (!std::isfinite(x)) throw UsageError(fmt::format("{}: must be a finite number, got {}", flag, shown));
    const bool whole = h.kind == Hyper::Kind::Integer || h.kind == Hyper::Kind::List ||
                       h.kind == Hyper::Kind::Switch || h.kind == Hyper::Kind::Choice;
    if (whole && x != std::floor(x)) throw UsageError(fmt::format("{}: must be a whole number, got {}", flag, shown));
    const bool below = h.lo_open ? !(x > h.lo) : !(x >= h.lo), above = h.hi_open ? !(x < h.hi) : !(x <= h.hi);
    if (below || above) {
      if (h.kind == Hyper::Kind::Choice) {
        throw UsageError(fmt::format("{}: must be one of {}", flag, fmt::join(h.choices, ", ")));
      }
      throw UsageError(h.kind == Hyper::Kind::List
                           ? fmt::format("{}: must be increasing whole numbers {}, got {}", flag, range_text(h),
                                         fmt::join(v, ","))
                           : fmt::format("{}: must be {}{}, got {}", flag, count > 1 ? "values " : "",
                                         range_text(h), shown));
    }
    if (h.kind == Hyper::Kind::List && i > 0 && !(x > v[i - 1])) {
      throw UsageError(
          fmt::format("{}: must be increasing whole numbers {}, got {}", flag, range_text(h), fmt::join(v, ",")));
    }
  }
}

// Folds aliases (beta1) into their tuples (betas) where the rows list the
// tuple, each checked under its own flag first.
void fold_aliases(HyperValues& values, const std::vector<Hyper>& hypers) {
  for (const HyperAlias& a : hyper_aliases()) {
    const Hyper* tuple = find_hyper(hypers, a.key);
    if (!values.has(a.alias) || tuple == nullptr) continue;
    Hyper element = *tuple;
    element.key = a.alias;
    element.kind = Hyper::Kind::Real;
    check_value(element, values.values(a.alias));
    std::vector<double> v = values.has(a.key) ? values.values(a.key) : tuple->fallback;
    if (v.size() == tuple->fallback.size()) v[static_cast<size_t>(a.index)] = values.number(a.alias);
    values.set(a.key, v);
    values.erase(a.alias);
  }
}

}  // namespace

void resolve_hypers(HyperValues& values, const std::vector<Hyper>& hypers, const std::string& subject) {
  fold_aliases(values, hypers);
  for (const auto& [key, v] : values.all()) {
    if (find_hyper(hypers, key) == nullptr) {
      throw UsageError(fmt::format("{}: does not apply to {}", flag_of(key), subject));
    }
  }
  for (const Hyper& h : hypers) {
    if (!values.has(h.key)) {
      if (h.fallback.empty()) continue;  // optional: unset unless given
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
      case Hyper::Kind::Tuple:
        out[h.key] = v;
        break;
      case Hyper::Kind::List: {
        std::vector<int64_t> ints(v.begin(), v.end());
        out[h.key] = ints;
        break;
      }
      case Hyper::Kind::Choice:
        out[h.key] = h.choices.at(static_cast<size_t>(v[0]));
        break;
    }
  }
}

HyperValues hypers_from_json(const json& j, const std::vector<Hyper>& hypers, const std::vector<std::string>& ignore) {
  HyperValues values;
  for (const auto& item : j.items()) {
    const std::string& key = item.key();  // a plain name, not a structured binding: lambdas below capture it
    const json& value = item.value();
    if (std::find(ignore.begin(), ignore.end(), key) != ignore.end()) continue;
    const Hyper* h = find_hyper(hypers, key);
    if (h == nullptr) {
      const auto& aliases = hyper_aliases();
      const bool alias = std::any_of(aliases.begin(), aliases.end(), [&](const HyperAlias& a) {
        return key == a.alias && find_hyper(hypers, a.key) != nullptr;
      });
      if (alias && value.is_number()) {
        values.set(key, value.get<double>());  // folded in by resolve_hypers
        continue;
      }
      if (value.is_boolean() && !value.get<bool>()) continue;  // older files list every switch
      if (value.is_array() && value.empty()) continue;         // ... and every list
      throw Error(fmt::format("'{}' is not a hyperparameter of this configuration", key));
    }
    if (value.is_boolean()) {
      values.set(key, value.get<bool>() ? 1.0 : 0.0);
    } else if (value.is_string() && h->kind == Hyper::Kind::Choice) {
      try {
        values.set(key, choice_index(*h, value.get<std::string>()));
      } catch (const UsageError& e) {
        throw Error(e.what());
      }
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
