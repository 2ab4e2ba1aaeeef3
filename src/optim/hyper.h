#pragma once
// Hyperparameters described by data. Each optimizer and each schedule has a
// registry row that lists its hyperparameters; everything a user sees of
// them (the command-line flags, their help, their validation, the JSON kept
// in checkpoints) is derived from those lists, so a hyperparameter is named
// once.
//
// A value is a list of numbers: one for a real, an integer, a switch (1 or
// 0) or a choice (its index), a fixed count for a tuple (betas: two), any
// number for a list (increasing integers, e.g. the milestones of a schedule).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace mnist {

struct Hyper {
  // Real, Integer: one number. Switch: 1 or 0. Tuple: a fixed count of reals
  // (as many as the default has: PyTorch's betas, etas, ns_coefficients).
  // List: increasing whole numbers, any count. Choice: one of `choices`,
  // held as its index (JSON and flags use the name).
  enum class Kind { Real, Integer, Switch, Tuple, List, Choice };
  const char* key;  // "initial_accumulator": the JSON key; the flag is --initial-accumulator
  Kind kind = Kind::Real;
  std::vector<double> fallback;  // the default; empty: none (optional: unset unless given)
  double lo = -1e300, hi = 1e300;
  bool lo_open = false, hi_open = false;  // whether lo or hi itself is refused
  const char* help = "";
  const char* shown_default = nullptr;  // the default as help shows it, when it is not a constant ("lr/10")
  std::vector<const char*> choices = {};  // Choice only
};

// Shorthands for registry rows.
Hyper real(const char* key, double fallback, double lo, double hi, const char* help, bool lo_open = false,
           bool hi_open = false);
// A real with no default: unset unless given (the optimizer derives it,
// as Prodigy's beta3 = sqrt(beta2)); `shown` says what help shows.
Hyper optional_real(const char* key, double lo, double hi, const char* help, const char* shown, bool lo_open = false,
                    bool hi_open = false);
Hyper integer(const char* key, double fallback, double lo, double hi, const char* help);
// A switch, off unless given; or on unless turned off with --no-KEY.
Hyper toggle(const char* key, const char* help, bool on = false);
Hyper pair(const char* key, double first, double second, double lo, double hi, const char* help,
           bool lo_open = false, bool hi_open = false);
Hyper tuple(const char* key, std::vector<double> fallback, double lo, double hi, const char* help);
Hyper list(const char* key, double lo, const char* help);  // increasing integers >= lo
Hyper choice(const char* key, std::vector<const char*> choices, int fallback, const char* help);

// The index of `name` among h's choices; UsageError naming the flag if it
// is not one of them.
int choice_index(const Hyper& h, const std::string& name);

// A flag that sets one element of a tuple: --beta1 and --beta2 set betas,
// for every optimizer with betas (Adam's own flags before PyTorch's pair).
struct HyperAlias {
  const char* alias;  // "beta1"
  const char* key;    // "betas"
  int index;          // 0
};
const std::vector<HyperAlias>& hyper_aliases();

// "--initial-accumulator" for "initial_accumulator".
std::string flag_of(const std::string& key);

// Values by key. Unset keys take their row's default when resolved.
class HyperValues {
 public:
  void set(const std::string& key, std::vector<double> v) { values_[key] = std::move(v); }
  void set(const std::string& key, double v) { values_[key] = {v}; }
  void erase(const std::string& key) { values_.erase(key); }
  bool has(const std::string& key) const { return values_.count(key) > 0; }
  // The value of a key that is set (std::logic_error otherwise: a row that
  // reads a key it does not list is a programming error).
  double number(const std::string& key) const;
  bool on(const std::string& key) const { return has(key) && number(key) != 0; }
  const std::vector<double>& values(const std::string& key) const;
  const std::map<std::string, std::vector<double>>& all() const { return values_; }
  bool operator==(const HyperValues&) const = default;

 private:
  std::map<std::string, std::vector<double>> values_;
};

// Fills the defaults of `hypers` into values and checks every value. An
// alias (beta1) is folded into its tuple (betas) first, checked under its
// own flag. A key that `hypers` does not list is refused ("--momentum: does not apply to
// --optimizer adam", with subject "--optimizer adam"), as is a value out of
// range. UsageError naming the flag.
void resolve_hypers(HyperValues& values, const std::vector<Hyper>& hypers, const std::string& subject);

// JSON: {"key": value, ...}: switches as booleans, tuples and lists as
// arrays, choices as their names.
void hypers_to_json(const HyperValues& values, const std::vector<Hyper>& hypers, nlohmann::json& out);
// Reads the keys that `hypers` lists from j. Keys it does not list are
// refused, except false switches that older checkpoints wrote for every
// optimizer; aliases of listed tuples (older files' beta1, beta2) are kept
// for resolve_hypers to fold in; `ignore` names keys that belong to the
// caller. Error if malformed.
HyperValues hypers_from_json(const nlohmann::json& j, const std::vector<Hyper>& hypers,
                             const std::vector<std::string>& ignore);

// The row of a registry (optimizers, schedules) with this name, or null;
// and the names of all rows, in order.
template <class Row>
const Row* find_row(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& row : rows) {
    if (name == row.name) return &row;
  }
  return nullptr;
}
template <class Row>
std::vector<std::string> row_names(const std::vector<Row>& rows) {
  std::vector<std::string> names;
  for (const Row& row : rows) names.emplace_back(row.name);
  return names;
}

}  // namespace mnist
