#pragma once
// Optimizer and learning-rate comparisons: a grid of training runs
// (optimizers x learning rates x seeds) that share everything else, each
// logged to its own metrics file, then summarised across seeds.
//
// A run's file is written as runs/<name>.jsonl.partial while it trains and
// renamed to runs/<name>.jsonl when it has finished (or diverged), so a
// finished run is one whose .jsonl exists: a rerun skips it. The summary and
// the plots are computed from the run files alone.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "train/trainer.h"

namespace mnist {

struct CompareSpec {
  TrainConfig base;                     // model, epochs, batch, schedule, ...; its optimizer, lr
                                        // and seed are replaced
  std::vector<std::string> optimizers;  // e.g. sgd, momentum, adam
  std::vector<double> lrs;              // empty: each optimizer at its default learning rate
  int seeds = 1;                        // seeds first_seed, first_seed + 1, ...
  uint64_t first_seed = 0;
  int train_samples = 0;        // train on the first N samples (0: all)
  double loss_threshold = 0.1;  // for "steps to reach the loss"
};

struct RunSpec {
  std::string name;  // "adam_lr0.001_seed0": also the file name
  std::string optimizer;
  double lr = 0;
  uint64_t seed = 0;
  TrainConfig config;  // resolved
};

// The runs of the grid, optimizer-major. Throws UsageError naming the flag
// for an empty list, an unknown optimizer, a repeated entry, a learning rate
// that is not a finite number > 0, or fewer than one seed.
std::vector<RunSpec> plan_grid(const CompareSpec& spec);

std::string run_name(const std::string& optimizer, double lr, uint64_t seed);

// The shared settings of a comparison as JSON (everything that makes two
// runs of the same name comparable), kept in DIR/compare.json so that a rerun
// with different settings is refused rather than mixed with old runs.
std::string grid_settings_json(const CompareSpec& spec);
// What differs between two settings files ("epochs (5 before, 3 now)").
std::vector<std::string> settings_differences(const std::string& before, const std::string& now);

// What a run file says.
struct RunRecord {
  struct Point {
    int64_t step;
    double loss;
  };
  struct Epoch {
    int epoch;
    double train_loss, accuracy, eval_loss, seconds;
  };
  std::vector<Point> losses;  // the logged steps
  std::vector<Epoch> epochs;
  bool finished = false;  // has its "final" record
  bool diverged = false;
  double test_accuracy = 0, test_loss = 0, seconds = 0;
  int64_t steps = 0;  // optimizer steps taken
};

// Parses a metrics file (train --metrics or a compare run). Error naming the
// file and line for a line that is not a metrics record.
RunRecord read_run(const std::string& path);

// Bias-corrected exponential moving average of a loss curve with a time
// constant of tau steps: each logged point is weighted by beta^(steps since
// the previous point) with beta = 1 - 1/tau, so the smoothing does not depend
// on how often the loss was logged.
std::vector<double> smooth_losses(const std::vector<RunRecord::Point>& points, double tau);

// The time constant compare uses for a run of total_steps: 1/30 of the run,
// at least one step.
double smoothing_steps(int64_t total_steps);

struct Stat {
  double mean = 0, sd = 0;  // sample standard deviation (0 for one value)
  int n = 0;
};
Stat stat_of(const std::vector<double>& values);

struct SummaryRow {
  std::string optimizer;
  double lr = 0;
  int runs = 0, diverged = 0;
  Stat final_loss;          // mean training loss of the last epoch, over the runs that
                            // did not diverge
  Stat accuracy;            // test accuracy (fraction), same runs
  Stat seconds;             // training time of each run
  Stat steps_to_threshold;  // over the runs whose smoothed loss reached the
                            // threshold
  int reached = 0;
};

// One row per optimizer x learning rate, in grid order.
std::vector<SummaryRow> summarize(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records,
                                  double loss_threshold);
std::string summary_csv(const std::vector<SummaryRow>& rows);
std::string summary_markdown(const std::vector<SummaryRow>& rows, double loss_threshold);

// Progress of a grid, reported after every step of any run (from the
// threads that train) and when a run starts or ends.
struct GridProgress {
  int runs = 0, done = 0, skipped = 0;
  int64_t total_steps = 0, steps_done = 0;              // over the runs still to train
  double seconds = 0;                                   // since the grid started
  std::vector<std::pair<std::string, double>> running;  // name, fraction done
};

struct GridCallbacks {
  // Called with a lock held: keep it short.
  std::function<void(const GridProgress&)> on_progress;
  // A run finished (record read back from its file) or was skipped.
  std::function<void(const RunSpec&, const RunRecord&, bool skipped)> on_run_done;
  std::function<bool()> should_stop;
};

struct GridOptions {
  int jobs = 1;             // runs trained at once
  int threads_per_job = 1;  // worker threads inside each run
};

// Trains every run of the grid whose file is not in out_dir/runs yet, jobs
// at a time. Returns false if should_stop ended it early (unfinished runs
// leave only .partial files, which the next call starts again).
bool run_grid(const std::vector<RunSpec>& runs, const DataSplits& data, const std::string& out_dir,
              const GridOptions& options, const GridCallbacks& callbacks);

std::string run_path(const std::string& out_dir, const RunSpec& run);

}  // namespace mnist
