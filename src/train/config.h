#pragma once
// What determines the arithmetic of a training run (saved in checkpoints,
// and fixed when a run is resumed), and the run's logging and saving
// options. Its JSON form is table-driven (config.cpp): each field is named
// once.
#include <cstdint>
#include <optional>
#include <string>

#include "data/augment.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace mnist {

// Seeds are recorded in JSON, whose numbers are doubles: exact up to 2^53.
constexpr uint64_t kMaxSeed = uint64_t{1} << 53;

struct TrainConfig {
  std::string model = "cnn";
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int epochs = 5;
  int64_t steps = 0;  // when > 0, the run is this many steps long instead of whole epochs
  int batch_size = 100;
  int train_samples = 0;  // train on the first N training samples (0: all)
  uint64_t seed = 0;  // at most kMaxSeed
  bool shuffle = true;
  std::optional<double> clip_norm;  // clip the gradient's global L2 norm
  AugmentConfig augment;            // random affine distortions of the training images
  double label_smoothing = 0;       // PyTorch's CrossEntropyLoss(label_smoothing=...)
  double ema = 0;                   // decay of the weights' moving average that the run reports (0: none)
  std::optional<double> dropout;    // the rate of the model's dropout layers, if not the model's own
  std::string data;                 // where the data came from
  std::string init;                 // weights the run started from, if not random
  // Not part of the arithmetic.
  int log_every = 200;
  int64_t checkpoint_every = 0;  // 0: only at the end
  std::string metrics;           // JSONL file, if any

  // Optimizer and schedule defaults filled in; UsageError naming the flag.
  TrainConfig resolved() const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& json);  // Error if malformed

  // Optimizer steps in the whole run, for this many batches an epoch.
  int64_t total_steps(int batches_per_epoch) const;
  // Epochs the run touches (the last one partial for a run of steps).
  int epochs_touched(int batches_per_epoch) const;
};

// UsageError naming --schedule when the optimizer cannot take the schedule:
// a schedule-free one takes only a constant rate (with a warm-up), Rprop
// none at all (its lr only sets the first step sizes).
void check_schedule_use(const std::string& optimizer, const ScheduleConfig& schedule);

}  // namespace mnist
