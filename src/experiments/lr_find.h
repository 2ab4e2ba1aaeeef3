#pragma once
// The learning-rate range test (Leslie Smith, "Cyclical Learning Rates for
// Training Neural Networks", 2017; fastai's and Lightning's lr_find).
//
// Train a copy of the model for up to `steps` steps while the learning rate
// rises exponentially from start_lr to end_lr. Smooth the loss with a
// bias-corrected exponential moving average (beta 0.98) and stop early when
// the smoothed loss exceeds stop_factor times its minimum or stops being a
// number. The suggestion is the learning rate where the smoothed loss falls
// fastest against log(lr), skipping the first 10% of the points (where the
// average is still settling) and looking no further than the lowest smoothed
// loss (past it the loss is rising, so a fall there is a rebound from a
// spike, not a good learning rate).
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"

namespace mnist {

struct LrFindConfig {
  double start_lr = 1e-7, end_lr = 10;
  int steps = 300;
  int batch_size = 100;
  uint64_t seed = 0;       // order of the batches
  double beta = 0.98;      // smoothing
  double stop_factor = 4;  // stop when smoothed loss > stop_factor * minimum

  void check() const;  // UsageError naming the flag
};

struct LrFindPoint {
  double lr, loss, smoothed;
};

struct LrFindResult {
  std::vector<LrFindPoint> points;
  double suggested_lr = 0;       // steepest descent of the smoothed loss against log lr
  double min_loss_lr_div10 = 0;  // the lr of the lowest smoothed loss, divided by 10
  int suggested_index = -1, min_index = -1;
  std::string stop_reason;  // "end_lr reached", "loss exceeded 4x its minimum",
                            // "loss not finite"
  std::string warning;      // set when the suggestion is not to be trusted
  double beta = 0.98;       // the smoothing the points were recorded with
};

// The learning rate of step i of n (i = 0 gives start_lr, i = n - 1 end_lr).
double lr_find_rate(const LrFindConfig& config, int i);

// Runs the test on a copy of network (which is not touched) with a fresh
// optimizer of the given configuration (its lr is ignored): a run of the
// run layer whose schedule is the exponential ramp ("exp-range"), logging
// every step's loss. threads: 0 for every core.
LrFindResult lr_find(const Network<float>& network, const OptimizerConfig& optimizer, const DataSplits& data,
                     const LrFindConfig& config, int threads = 0);

// The suggestion rules, on points already recorded (fills the suggestion
// fields of result). Throws Error when there are too few points to judge.
void suggest_lr(LrFindResult& result);

}  // namespace mnist
