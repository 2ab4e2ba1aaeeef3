#pragma once
// Learning-rate schedules. Every schedule except reduce-on-plateau is a pure
// function of the optimizer step t (0-based), given the steps per epoch E
// and the run's total steps T:
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
//   exp-range    lr * (end_lr / lr)^(t / (T - 1)): the learning-rate range
//                test's ramp (mnist lr-find)
//
// A linear warm-up multiplies any of them: for t < W, lr_t *= (t + 1) / W.
// Each schedule is one class below (in schedule.cpp) and one registry row.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "optim/hyper.h"

namespace mnist {

struct ScheduleConfig {
  std::string name = "constant";
  HyperValues hypers;  // "gamma", "milestones", "end_lr", ...
  int warmup_steps = 0;

  double get(const std::string& key) const { return hypers.number(key); }
  void set(const std::string& key, double v) { hypers.set(key, v); }
  void set(const std::string& key, std::vector<double> v) { hypers.set(key, std::move(v)); }

  // Defaults filled in for this schedule and base lr; UsageError naming the
  // flag for an unknown schedule, a bad value or a flag that does not apply.
  ScheduleConfig resolved(double base_lr) const;
};

class Schedule {
 public:
  Schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch, int64_t total_steps);
  virtual ~Schedule() = default;

  // The learning rate of optimizer step t.
  double lr(int64_t t) const;
  // Called at each epoch's end with the held-out loss (reduce-on-plateau
  // uses it; the others ignore it).
  virtual void epoch_end(double /*held_out_loss*/) {}

  // Reduce-on-plateau's state, kept in checkpoints for every schedule.
  struct PlateauState {
    double lr = 0, best = 0;
    int bad_epochs = 0;
    bool seen = false;  // whether any epoch has been checked
  };
  const PlateauState& plateau() const { return plateau_; }
  void set_plateau(const PlateauState& s) { plateau_ = s; }

 protected:
  // The schedule's own rate at step t, before the warm-up.
  virtual double base(int64_t t) const = 0;
  int64_t epoch_of(int64_t t) const { return t / steps_per_epoch_; }

  ScheduleConfig config_;
  double base_lr_;
  int64_t steps_per_epoch_, total_steps_;
  PlateauState plateau_;
};

struct ScheduleRow {
  const char* name;
  const char* summary;
  std::vector<Hyper> hypers;
  // Defaults that depend on the base learning rate (poly's end_lr), or null.
  void (*defaults)(ScheduleConfig&, double base_lr);
  // Rules across hyperparameters, or null.
  void (*check)(const ScheduleConfig&);
  std::unique_ptr<Schedule> (*make)(const ScheduleConfig&, double base_lr, int64_t steps_per_epoch,
                                    int64_t total_steps);
};

const std::vector<ScheduleRow>& schedule_registry();
const ScheduleRow& schedule_row(const std::string& name);  // UsageError for an unknown name
std::vector<std::string> schedule_names();

// config is resolved first (UsageError on a bad value).
std::unique_ptr<Schedule> make_schedule(const ScheduleConfig& config, double base_lr, int64_t steps_per_epoch,
                                        int64_t total_steps);

}  // namespace mnist
