#include "optim/schedule.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "util/error.h"
#include "util/options.h"

namespace mnist {

const std::vector<std::string>& schedule_names() {
  static const std::vector<std::string> names = {"constant", "step",  "multistep", "exponential",
                                                 "cosine",   "poly",  "onecycle",  "plateau"};
  return names;
}

ScheduleConfig ScheduleConfig::resolved(double base_lr) const {
  ScheduleConfig c = *this;
  const std::string& n = c.name;
  const std::string subject = "--schedule " + n;
  require(std::find(schedule_names().begin(), schedule_names().end(), n) != schedule_names().end(),
          fmt::format("--schedule: unknown schedule '{}' (choose {})", n, fmt::join(schedule_names(), ", ")));
  const bool decays = n == "step" || n == "multistep" || n == "exponential" || n == "plateau";
  settle(c.gamma, decays, n == "exponential" ? 0.9 : 0.1, "--gamma", subject);
  if (c.gamma) require(*c.gamma > 0 && *c.gamma <= 1, fmt::format("--gamma: must be in (0, 1], got {}", *c.gamma));
  settle(c.step_size, n == "step", 1, "--step-size", subject);
  if (c.step_size) require(*c.step_size >= 1, fmt::format("--step-size: must be at least 1 epoch, got {}", *c.step_size));
  require(c.milestones.empty() || n == "multistep", fmt::format("--milestones: does not apply to {}", subject));
  if (n == "multistep") {
    require(!c.milestones.empty(), "--milestones: --schedule multistep needs epochs, e.g. --milestones 2,4");
    for (size_t i = 0; i < c.milestones.size(); ++i) {
      require(c.milestones[i] >= 1 && (i == 0 || c.milestones[i] > c.milestones[i - 1]),
              fmt::format("--milestones: must be increasing epochs >= 1, got {}", fmt::join(c.milestones, ",")));
    }
  }
  settle(c.min_lr, n == "cosine" || n == "plateau", 0.0, "--min-lr", subject);
  if (c.min_lr) require(*c.min_lr >= 0, fmt::format("--min-lr: must be >= 0, got {}", *c.min_lr));
  settle(c.end_lr, n == "poly", base_lr / 10, "--end-lr", subject);
  if (c.end_lr) require(*c.end_lr >= 0, fmt::format("--end-lr: must be >= 0, got {}", *c.end_lr));
  settle(c.power, n == "poly", 1.0, "--power", subject);
  if (c.power) require(*c.power > 0, fmt::format("--power: must be > 0, got {}", *c.power));
  settle(c.pct_start, n == "onecycle", 0.3, "--pct-start", subject);
  if (c.pct_start) require(*c.pct_start > 0 && *c.pct_start < 1, fmt::format("--pct-start: must be in (0, 1), got {}", *c.pct_start));
  settle(c.div_factor, n == "onecycle", 25.0, "--div-factor", subject);
  settle(c.final_div_factor, n == "onecycle", 1e4, "--final-div-factor", subject);
  if (n == "onecycle") {
    require(*c.div_factor >= 1, fmt::format("--div-factor: must be >= 1, got {}", *c.div_factor));
    require(*c.final_div_factor >= 1, fmt::format("--final-div-factor: must be >= 1, got {}", *c.final_div_factor));
  }
  settle(c.patience, n == "plateau", 10, "--patience", subject);
  if (c.patience) require(*c.patience >= 0, fmt::format("--patience: must be >= 0, got {}", *c.patience));
  settle(c.threshold, n == "plateau", 1e-4, "--threshold", subject);
  if (c.threshold) require(*c.threshold >= 0, fmt::format("--threshold: must be >= 0, got {}", *c.threshold));
  require(c.warmup_steps >= 0, fmt::format("--warmup-steps: must be >= 0, got {}", c.warmup_steps));
  return c;
}

Schedule::Schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps)
    : config_(config.resolved(base_lr)),
      base_lr_(base_lr),
      steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)),
      total_steps_(std::max<int64_t>(1, total_steps)) {
  plateau_.lr = base_lr;
  if (config_.name == "onecycle" && *config_.pct_start * static_cast<double>(total_steps_) - 1 <= 0) {
    throw UsageError(fmt::format("--pct-start: {} of a {}-step run leaves the rise no steps; raise it or train longer",
                                 *config_.pct_start, total_steps_));
  }
}

double Schedule::base(int64_t t) const {
  const std::string& n = config_.name;
  const auto epoch = static_cast<double>(t / steps_per_epoch_);
  const double T = static_cast<double>(total_steps_), s = static_cast<double>(std::min(t, total_steps_));
  if (n == "step") return base_lr_ * std::pow(*config_.gamma, std::floor(epoch / *config_.step_size));
  if (n == "multistep") {
    const auto passed = std::count_if(config_.milestones.begin(), config_.milestones.end(),
                                      [&](int m) { return m <= epoch; });
    return base_lr_ * std::pow(*config_.gamma, static_cast<double>(passed));
  }
  if (n == "exponential") return base_lr_ * std::pow(*config_.gamma, epoch);
  if (n == "cosine") {
    return *config_.min_lr + (base_lr_ - *config_.min_lr) * (1 + std::cos(std::numbers::pi * s / T)) / 2;
  }
  if (n == "poly") return (base_lr_ - *config_.end_lr) * std::pow(1 - s / T, *config_.power) + *config_.end_lr;
  if (n == "onecycle") {
    const double initial = base_lr_ / *config_.div_factor, final = initial / *config_.final_div_factor;
    const double peak = *config_.pct_start * T - 1;  // PyTorch's end of phase 1 (not rounded)
    auto anneal = [](double from, double to, double pct) {
      return to + (from - to) / 2.0 * (std::cos(std::numbers::pi * pct) + 1);
    };
    const auto step = static_cast<double>(t);
    if (step <= peak) return anneal(initial, base_lr_, step / peak);
    return anneal(base_lr_, final, (step - peak) / (T - 1 - peak));
  }
  if (n == "plateau") return plateau_.lr;
  return base_lr_;
}

double Schedule::lr(int64_t t) const {
  double lr = base(t);
  if (t < config_.warmup_steps) lr *= static_cast<double>(t + 1) / config_.warmup_steps;
  return lr;
}

void Schedule::epoch_end(double loss) {
  if (config_.name != "plateau") return;
  // PyTorch's ReduceLROnPlateau, mode 'min', threshold_mode 'rel', cooldown 0.
  if (!plateau_.seen || loss < plateau_.best * (1 - *config_.threshold)) {
    plateau_.best = loss;
    plateau_.bad_epochs = 0;
  } else {
    ++plateau_.bad_epochs;
  }
  plateau_.seen = true;
  if (plateau_.bad_epochs > *config_.patience) {
    const double reduced = std::max(plateau_.lr * *config_.gamma, *config_.min_lr);
    if (plateau_.lr - reduced > 1e-8) plateau_.lr = reduced;
    plateau_.bad_epochs = 0;
  }
}

}  // namespace mnist
