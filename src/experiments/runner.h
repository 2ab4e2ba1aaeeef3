#pragma once
// Training a comparison's grid: whole runs side by side, each through the
// run layer, each logged to its own metrics file.
//
// A run's file is written as runs/<name>.jsonl.partial while it trains and
// renamed to runs/<name>.jsonl when it has finished (or diverged), so a
// finished run is one whose .jsonl exists: a rerun skips it. The summary and
// the plots are computed from the run files alone.
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "experiments/grid.h"
#include "train/metrics.h"

namespace mnist {

// Progress of a grid, reported after every step of any run (from the
// threads that train) and when a run starts or ends.
struct GridProgress {
  int runs = 0, done = 0;
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

// Whether the run's file in out_dir holds a finished run (its record in
// *record); a file cut short is not one.
bool run_finished(const std::string& out_dir, const RunSpec& run, RunRecord* record = nullptr);

// Trains one run into path + ".partial" and renames it to path when it is
// done (finished or diverged). on_batch gets the steps taken so far.
// Returns false when should_stop ended it early.
bool train_grid_run(const RunSpec& spec, const DataSplits& data, const std::string& path, int threads,
                    const std::function<void(int64_t steps)>& on_batch, const std::function<bool()>& should_stop);

}  // namespace mnist
