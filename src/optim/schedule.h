#pragma once
// Learning-rate schedules. Every schedule except reduce-on-plateau is a pure
// function of the optimizer step t (0-based), given the steps per epoch E
// and the run's total steps T = epochs * E:
//
//   constant     lr
//   step         lr * gamma^floor(epoch / step_size)         epoch = floor(t / E)
//   multistep    lr * gamma^(number of milestones <= epoch)
//   exponential  lr * gamma^epoch
//   cosine       min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2
//   poly         (lr - end_lr) * (1 - t / T)^power + end_lr     (Paddle's PolynomialDecay)
//   onecycle     PyTorch's OneCycleLR (cosine, no momentum cycling): from
//                lr/div_factor up to lr over pct_start of the run, then down
//                to lr/div_factor/final_div_factor
//   plateau      PyTorch's ReduceLROnPlateau on the held-out loss, checked at
//                each epoch's end: lr * factor after `patience` epochs
//                without relative improvement of `threshold`, never below min_lr
//
// A linear warm-up multiplies any of them: for t < W, lr_t *= (t + 1) / W.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mnist {

struct ScheduleConfig {
  std::string name = "constant";
  std::optional<double> gamma;       // step, multistep: 0.1; exponential: 0.9; plateau: 0.1
  std::optional<int> step_size;      // step: epochs between decays (1)
  std::vector<int> milestones;       // multistep: epochs at which to decay
  std::optional<double> min_lr;      // cosine floor, plateau floor (0)
  std::optional<double> end_lr;      // poly: final learning rate (lr / 10)
  std::optional<double> power;       // poly (1)
  std::optional<double> pct_start;   // onecycle (0.3)
  std::optional<double> div_factor;  // onecycle (25)
  std::optional<double> final_div_factor;  // onecycle (1e4)
  std::optional<int> patience;       // plateau (10)
  std::optional<double> threshold;   // plateau (1e-4)
  int warmup_steps = 0;

  // Defaults filled in for this schedule and base lr; UsageError naming the
  // flag for an unknown schedule, a bad value or a flag that does not apply.
  ScheduleConfig resolved(double base_lr) const;
};

const std::vector<std::string>& schedule_names();

class Schedule {
 public:
  Schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps);

  // The learning rate of optimizer step t.
  double lr(int64_t t) const;
  // Reduce-on-plateau's check at an epoch's end (the others ignore it).
  void epoch_end(double held_out_loss);

  // Reduce-on-plateau's state, for checkpoints.
  struct PlateauState {
    double lr = 0, best = 0;
    int bad_epochs = 0;
    bool seen = false;  // whether any epoch has been checked
  };
  const PlateauState& plateau() const { return plateau_; }
  void set_plateau(const PlateauState& s) { plateau_ = s; }

 private:
  double base(int64_t t) const;

  ScheduleConfig config_;
  double base_lr_;
  int64_t steps_per_epoch_, total_steps_;
  PlateauState plateau_;
};

}  // namespace mnist
