#include "experiments/lr_find.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/run.h"
#include "util/error.h"

namespace mnist {

void LrFindConfig::check() const {
  if (!(std::isfinite(start_lr) && start_lr > 0)) {
    throw UsageError(fmt::format("--start-lr: must be a finite number > 0, got {}", start_lr));
  }
  if (!(std::isfinite(end_lr) && end_lr > start_lr)) {
    throw UsageError(
        fmt::format("--end-lr: must be a finite number above --start-lr ({:g}), got {}", start_lr, end_lr));
  }
  if (steps < 10 || steps > 1000000) {
    throw UsageError(fmt::format("--steps: must be between 10 and 1000000, got {}", steps));
  }
  if (batch_size < 1 || batch_size > (1 << 20)) {
    throw UsageError(fmt::format("--batch-size: must be between 1 and 1048576, got {}", batch_size));
  }
}

double lr_find_rate(const LrFindConfig& config, int i) {
  ScheduleConfig ramp;
  ramp.name = "exp-range";
  ramp.set("end_lr", config.end_lr);
  return make_schedule(ramp, config.start_lr, 1, config.steps)->lr(i);
}

void suggest_lr(LrFindResult& result) {
  const auto& p = result.points;
  const int n = static_cast<int>(p.size());
  if (n < 5) {
    throw Error(
        fmt::format("the range test stopped after {} steps ({}), too few to judge; start from a smaller "
                    "--start-lr",
                    n, result.stop_reason));
  }
  // Skip the first 10% (the average is settling) in both the search for the
  // lowest loss and for the steepest fall; look for the fall no further
  // than the lowest loss, since past it the loss is rising whatever it does
  // next.
  const int begin = n / 10;
  result.min_index = begin;
  for (int i = begin + 1; i < n; ++i) {
    if (p[i].smoothed < p[result.min_index].smoothed) result.min_index = i;
  }
  const int end = result.min_index + 1;
  result.min_loss_lr_div10 = p[result.min_index].lr / 10;
  if (end - begin < 3) {
    // The loss only rises after the skipped start: nothing to choose from.
    result.suggested_index = result.min_index;
    result.suggested_lr = p[result.min_index].lr;
    result.warning =
        "the loss rose from the start of the range, so the suggestion is not reliable; start from a "
        "smaller --start-lr";
    return;
  }
  // d(smoothed)/d(log10 lr) as numpy.gradient computes it: central
  // differences inside, one-sided at the ends of the slice.
  double steepest = std::numeric_limits<double>::infinity();
  for (int i = begin; i < end; ++i) {
    const int lo = std::max(begin, i - 1), hi = std::min(end - 1, i + 1);
    const double slope = (p[hi].smoothed - p[lo].smoothed) / (std::log10(p[hi].lr) - std::log10(p[lo].lr));
    if (slope < steepest) {
      steepest = slope;
      result.suggested_index = i;
    }
  }
  result.suggested_lr = p[result.suggested_index].lr;
  if (result.min_index >= n - 2 && result.stop_reason == "end_lr reached") {
    result.warning =
        "the loss was still falling at the end of the range, so a better rate may lie above it; "
        "raise --end-lr";
    return;
  }
  // A curve that hardly falls before it rises (a model already trained, or
  // a range that starts too high) has no real "steepest fall": its slopes
  // are noise. The fall is measured from the skipped first points, where
  // the learning rate is too small to change anything, and compared with
  // the noise of the smoothed loss there: the batch-to-batch spread times
  // sqrt((1 - beta) / (1 + beta)), the spread of an exponential average.
  const int flat = std::max(2, begin);
  double mean = 0, squares = 0;
  for (int i = 0; i < flat; ++i) mean += p[i].loss / flat;
  for (int i = 0; i < flat; ++i) squares += (p[i].loss - mean) * (p[i].loss - mean);
  const double noise = std::sqrt(squares / (flat - 1)) * std::sqrt((1 - result.beta) / (1 + result.beta));
  const double fall = mean - p[result.min_index].smoothed;
  if (fall < 8 * noise) {
    result.warning = fmt::format(
        "the smoothed loss fell by only {:.3g} before rising, not clearly more than its noise ({:.2g}), so the "
        "suggestion is not reliable (is the model already trained, or --start-lr too high?)",
        std::max(0.0, fall), noise);
  }
}

LrFindResult lr_find(const Network<float>& network, const OptimizerConfig& optimizer_config, const DataSplits& data,
                     const LrFindConfig& config, int threads) {
  config.check();
  // A run of `steps` steps whose schedule is the exponential ramp, on a copy
  // of the caller's model, logging every step.
  TrainConfig train;
  train.model = network.model();
  train.optimizer = optimizer_config;
  train.optimizer.lr = config.start_lr;
  train.schedule.name = "exp-range";
  train.schedule.set("end_lr", config.end_lr);
  train.steps = config.steps;
  train.epochs = 1;
  train.batch_size = config.batch_size;
  train.seed = config.seed;
  train.log_every = 1;
  RunPlan plan = plan_new_run(train, /*save=*/"", threads);
  plan.options.evaluate_epochs = false;     // only the training loss matters
  plan.options.stop_on_divergence = false;  // the test watches the loss itself
  TrainingRun run(std::move(plan), borrow(data), network);

  LrFindResult result;
  result.beta = config.beta;
  result.stop_reason = "end_lr reached";
  double average = 0, best = std::numeric_limits<double>::infinity();
  RunEvents events;
  events.on_batch = [&](const StepEvent& e) {
    if (!std::isfinite(e.loss)) {
      result.stop_reason = "loss not finite";
      run.stop();
      return;
    }
    average = config.beta * average + (1 - config.beta) * e.loss;
    const double smoothed = average / (1 - std::pow(config.beta, static_cast<double>(e.step + 1)));
    result.points.push_back({e.lr, e.loss, smoothed});
    best = std::min(best, smoothed);
    if (smoothed > config.stop_factor * best) {
      result.stop_reason = fmt::format("loss exceeded {:g}x its minimum", config.stop_factor);
      run.stop();
    }
  };
  run.run(events);
  suggest_lr(result);
  return result;
}

}  // namespace mnist
