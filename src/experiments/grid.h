#pragma once
// The grid of an optimizer comparison: optimizers x learning rates x seeds
// that share everything else, planned and checked before any training, and
// the settings that make two runs of the same name comparable.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "train/config.h"

namespace mnist {

struct CompareSpec {
  TrainConfig base;                     // model, epochs, batch, schedule, ...; its optimizer, lr
                                        // and seed are replaced
  std::vector<std::string> optimizers;  // e.g. sgd, momentum, adam
  std::vector<double> lrs;              // learning rates (a learning-rate-free optimizer's multiplier)
  std::vector<double> lr_factors;       // or factors of each optimizer's own default
                                        // (both empty: each optimizer at its default)
  int seeds = 1;                        // seeds first_seed, first_seed + 1, ...
  uint64_t first_seed = 0;
  int train_samples = 0;        // train on the first N samples (0: all)
  double loss_threshold = 0.1;  // for "steps to reach the loss"
};

struct RunSpec {
  std::string name;  // "adam_lr0.001_seed0", "prodigy_d_coef0.1_seed0": also the file name
  std::string optimizer;
  double lr = 0;     // the swept value: the learning rate, or a learning-rate-free optimizer's multiplier
  double factor = 0;  // with --lr-factors: the factor of the optimizer's default (0: none)
  uint64_t seed = 0;
  TrainConfig config;  // resolved
};

// The runs of the grid, optimizer-major. Throws UsageError naming the flag
// for an empty list, an unknown optimizer, a repeated entry, a learning rate
// or factor that is not a finite number > 0, both --lrs and --lr-factors, or
// fewer than one seed. A learning-rate-free optimizer (Prodigy, DoG) is swept
// over its own multiplier (docs/experiments.md).
std::vector<RunSpec> plan_grid(const CompareSpec& spec);

// key: what the value is ("lr", or a multiplier's key).
std::string run_name(const std::string& optimizer, const std::string& key, double value, uint64_t seed);

// The shared settings of a comparison as JSON (everything that makes two
// runs of the same name comparable), kept in DIR/compare.json so that a rerun
// with different settings is refused rather than mixed with old runs.
std::string grid_settings_json(const CompareSpec& spec);
// What differs between two settings files ("epochs (5 before, 3 now)").
std::vector<std::string> settings_differences(const std::string& before, const std::string& now);

}  // namespace mnist
