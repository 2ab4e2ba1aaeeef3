#include "optim/schedule.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "util/error.h"
#include "util/options.h"

namespace mnist {

Schedule::Schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps)
    : config_(config),
      base_lr_(base_lr),
      steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)),
      total_steps_(std::max<int64_t>(1, total_steps)) {
  plateau_.lr = base_lr;
}

double Schedule::lr(int64_t t) const {
  double lr = base(t);
  if (t < config_.warmup_steps) lr *= static_cast<double>(t + 1) / config_.warmup_steps;
  return lr;
}

namespace {

constexpr double kInf = 1e300;

template <class T>
std::unique_ptr<Schedule> make_as(const ScheduleConfig& c, double lr, int64_t per_epoch, int64_t total) {
  return std::make_unique<T>(c, lr, per_epoch, total);
}

class Constant final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t) const override { return base_lr_; }
};

class Step final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    const auto epoch = static_cast<double>(epoch_of(t));
    return base_lr_ * std::pow(config_.get("gamma"), std::floor(epoch / config_.get("step_size")));
  }
};

class MultiStep final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    const auto epoch = static_cast<double>(epoch_of(t));
    const auto& milestones = config_.hypers.values("milestones");
    const auto passed = std::count_if(milestones.begin(), milestones.end(), [&](double m) { return m <= epoch; });
    return base_lr_ * std::pow(config_.get("gamma"), static_cast<double>(passed));
  }
};

class Exponential final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    return base_lr_ * std::pow(config_.get("gamma"), static_cast<double>(epoch_of(t)));
  }
};

class Cosine final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    const double T = static_cast<double>(total_steps_), s = static_cast<double>(std::min(t, total_steps_));
    const double min_lr = config_.get("min_lr");
    return min_lr + (base_lr_ - min_lr) * (1 + std::cos(std::numbers::pi * s / T)) / 2;
  }
};

class Poly final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    const double T = static_cast<double>(total_steps_), s = static_cast<double>(std::min(t, total_steps_));
    const double end_lr = config_.get("end_lr");
    return (base_lr_ - end_lr) * std::pow(1 - s / T, config_.get("power")) + end_lr;
  }
};

class OneCycle final : public Schedule {
 public:
  OneCycle(const ScheduleConfig& c, double lr, int64_t per_epoch, int64_t total) : Schedule(c, lr, per_epoch, total) {
    if (config_.get("pct_start") * static_cast<double>(total_steps_) - 1 <= 0) {
      throw UsageError(fmt::format("--pct-start: {} of a {}-step run leaves the rise no steps; raise it or train longer",
                                   config_.get("pct_start"), total_steps_));
    }
  }

 private:
  double base(int64_t t) const override {
    const double T = static_cast<double>(total_steps_);
    const double initial = base_lr_ / config_.get("div_factor"), final = initial / config_.get("final_div_factor");
    const double peak = config_.get("pct_start") * T - 1;  // PyTorch's end of phase 1 (not rounded)
    auto anneal = [](double from, double to, double pct) {
      return to + (from - to) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
    };
    const auto step = static_cast<double>(t);
    if (step <= peak) return anneal(initial, base_lr_, step / peak);
    return anneal(base_lr_, final, (step - peak) / (T - 1 - peak));
  }
};

class Plateau final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t) const override { return plateau_.lr; }
  // PyTorch's ReduceLROnPlateau, mode 'min', threshold_mode 'rel', cooldown 0.
  void epoch_end(double loss) override {
    if (!plateau_.seen || loss < plateau_.best * (1 - config_.get("threshold"))) {
      plateau_.best = loss;
      plateau_.bad_epochs = 0;
    } else {
      ++plateau_.bad_epochs;
    }
    plateau_.seen = true;
    if (plateau_.bad_epochs > config_.get("patience")) {
      const double reduced = std::max(plateau_.lr * config_.get("gamma"), config_.get("min_lr"));
      if (plateau_.lr - reduced > 1e-8) plateau_.lr = reduced;
      plateau_.bad_epochs = 0;
    }
  }
};

class ExpRange final : public Schedule {
  using Schedule::Schedule;
  double base(int64_t t) const override {
    const double x = total_steps_ > 1 ? static_cast<double>(t) / static_cast<double>(total_steps_ - 1) : 0.0;
    return base_lr_ * std::pow(config_.get("end_lr") / base_lr_, x);
  }
};

Hyper gamma(double fallback, const char* help) { return real("gamma", fallback, 0, 1, help, /*lo_open=*/true); }

Hyper poly_end_lr() {
  Hyper h = real("end_lr", 0, 0, kInf, "Final learning rate");
  h.shown_default = "lr/10";
  return h;
}

void poly_defaults(ScheduleConfig& c, double base_lr) {
  if (!c.hypers.has("end_lr")) c.set("end_lr", base_lr / 10);
}
void check_milestones(const ScheduleConfig& c) {
  require(c.hypers.has("milestones") && !c.hypers.values("milestones").empty(),
          "--milestones: --schedule multistep needs epochs, e.g. --milestones 2,4");
}
void check_onecycle(const ScheduleConfig& c) {
  require(c.get("div_factor") >= 1, fmt::format("--div-factor: must be >= 1, got {}", c.get("div_factor")));
  require(c.get("final_div_factor") >= 1,
          fmt::format("--final-div-factor: must be >= 1, got {}", c.get("final_div_factor")));
}

}  // namespace

const std::vector<ScheduleRow>& schedule_registry() {
  static const std::vector<ScheduleRow> rows = {
      {"constant", "the same rate throughout", {}, nullptr, nullptr, make_as<Constant>},
      {"step", "times gamma every step_size epochs",
       {gamma(0.1, "Decay factor"), integer("step_size", 1, 1, kInf, "Epochs between decays")}, nullptr,
       nullptr, make_as<Step>},
      {"multistep", "times gamma at each milestone epoch",
       {gamma(0.1, "Decay factor"), list("milestones", 1, "Epochs at which to decay, e.g. 2,4")}, nullptr,
       check_milestones, make_as<MultiStep>},
      {"exponential", "times gamma every epoch", {gamma(0.9, "Decay factor per epoch")}, nullptr, nullptr,
       make_as<Exponential>},
      {"cosine", "half a cosine from lr down to min_lr",
       {real("min_lr", 0, 0, kInf, "Lowest learning rate")}, nullptr, nullptr, make_as<Cosine>},
      {"poly", "polynomial decay to end_lr (the course's PolynomialDecay)",
       {poly_end_lr(), real("power", 1, 0, kInf, "Exponent of the polynomial", /*lo_open=*/true)},
       poly_defaults, nullptr, make_as<Poly>},
      {"onecycle", "PyTorch's OneCycleLR: up to lr, then far below it",
       {real("pct_start", 0.3, 0, 1, "Share of the run spent rising", true, true),
        real("div_factor", 25, -kInf, kInf, "Starting lr = lr / this"),
        real("final_div_factor", 1e4, -kInf, kInf, "Final lr = starting lr / this")},
       nullptr, check_onecycle, make_as<OneCycle>},
      {"plateau", "PyTorch's ReduceLROnPlateau on the held-out loss",
       {gamma(0.1, "Decay factor"), real("min_lr", 0, 0, kInf, "Lowest learning rate"),
        integer("patience", 10, 0, kInf, "Epochs without improvement before decaying"),
        real("threshold", 1e-4, 0, kInf, "Relative improvement that counts")},
       nullptr, nullptr, make_as<Plateau>},
      {"exp-range", "exponential ramp from lr to end_lr (the range test's)",
       {real("end_lr", 10, 0, kInf, "Final learning rate", /*lo_open=*/true)},
       nullptr, nullptr, make_as<ExpRange>},
  };
  return rows;
}

const ScheduleRow& schedule_row(const std::string& name) {
  if (const ScheduleRow* row = find_row(schedule_registry(), name)) return *row;
  throw UsageError(
      fmt::format("--schedule: unknown schedule '{}' (choose {})", name, fmt::join(schedule_names(), ", ")));
}

std::vector<std::string> schedule_names() { return row_names(schedule_registry()); }

ScheduleConfig ScheduleConfig::resolved(double base_lr) const {
  ScheduleConfig c = *this;
  const ScheduleRow& row = schedule_row(c.name);
  if (row.defaults != nullptr) row.defaults(c, base_lr);
  resolve_hypers(c.hypers, row.hypers, "--schedule " + c.name);
  require(c.warmup_steps >= 0, fmt::format("--warmup-steps: must be >= 0, got {}", c.warmup_steps));
  if (row.check != nullptr) row.check(c);
  return c;
}

std::unique_ptr<Schedule> make_schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch,
                                        int64_t total_steps) {
  const ScheduleConfig c = config.resolved(base_lr);
  return schedule_row(c.name).make(c, base_lr, steps_per_epoch, total_steps);
}

}  // namespace mnist
