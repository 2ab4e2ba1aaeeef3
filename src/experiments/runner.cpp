#include "experiments/runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include "io/file.h"
#include "train/run.h"
#include "util/error.h"

namespace mnist {

namespace {

// Optimizer steps in a whole run.
int64_t run_steps(const RunSpec& run, const DataSplits& data) {
  return run.config.total_steps(batches_per_epoch(data.train.count, run.config.batch_size));
}

}  // namespace

bool train_grid_run(const RunSpec& spec, const DataSplits& data, const std::string& path, int threads,
               const std::function<void(int64_t steps)>& on_batch, const std::function<bool()>& should_stop) {
  const std::string partial = path + ".partial";
  TrainConfig config = spec.config;
  config.metrics = partial;
  RunPlan plan = plan_new_run(config, /*save=*/"", threads);
  TrainingRun run(std::move(plan), borrow(data));
  RunEvents events;
  events.on_batch = [&](const StepEvent& e) {
    on_batch(e.step + 1);
    if (should_stop()) run.stop();
  };
  if (run.run(events).status == RunStatus::Stopped) return false;
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename to {}: {}", partial, path, ec.message()));
  return true;
}

bool run_finished(const std::string& out_dir, const RunSpec& run, RunRecord* record) {
  const std::string path = run_path(out_dir, run);
  if (!file_exists(path)) return false;
  try {
    RunRecord r = read_run(path);
    if (record) *record = r;
    return r.finished;
  } catch (const Error&) {
    return false;
  }
}

bool run_grid(const std::vector<RunSpec>& runs, const DataSplits& data, const std::string& out_dir,
              const GridOptions& options, const GridCallbacks& callbacks) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::mutex mutex;
  GridProgress progress;
  progress.runs = static_cast<int>(runs.size());
  std::vector<const RunSpec*> todo;
  for (const RunSpec& run : runs) {
    // A file without its final record (cut short outside our control) is
    // not a finished run: train it again.
    RunRecord record;
    if (run_finished(out_dir, run, &record)) {
      ++progress.done;
      if (callbacks.on_run_done) callbacks.on_run_done(run, record, true);
      continue;
    }
    todo.push_back(&run);
    progress.total_steps += run_steps(run, data);
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false}, stopped{false};
  std::exception_ptr error;
  auto stop_now = [&] {
    if (failed || (callbacks.should_stop && callbacks.should_stop())) {
      stopped = true;
      return true;
    }
    return false;
  };
  auto worker = [&] {
    try {
      for (size_t i = next++; i < todo.size() && !stop_now(); i = next++) {
        const RunSpec& run = *todo[i];
        const std::string path = run_path(out_dir, run);
        const int64_t total = run_steps(run, data);
        int64_t counted = 0;  // this run's steps added to progress.steps_done
        // Sets this run's share done and reports; called with the lock held.
        auto report = [&](double fraction) {
          for (auto& [name, share] : progress.running) {
            if (name == run.name) share = fraction;
          }
          progress.seconds = std::chrono::duration<double>(Clock::now() - start).count();
          if (callbacks.on_progress) callbacks.on_progress(progress);
        };
        {
          std::lock_guard lock(mutex);
          progress.running.emplace_back(run.name, 0.0);
          report(0);
        }
        auto on_batch = [&](int64_t steps) {
          std::lock_guard lock(mutex);
          progress.steps_done += steps - counted;
          counted = steps;
          report(static_cast<double>(steps) / static_cast<double>(total));
        };
        const bool finished = train_grid_run(run, data, path, options.threads_per_job, on_batch, stop_now);
        std::lock_guard lock(mutex);
        std::erase_if(progress.running, [&](const auto& r) { return r.first == run.name; });
        if (!finished) break;
        progress.steps_done += total - counted;  // a run that diverged early skips its remaining steps
        ++progress.done;
        if (callbacks.on_run_done) callbacks.on_run_done(run, read_run(path), false);
      }
    } catch (...) {
      std::lock_guard lock(mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  const int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(todo.size())));
  std::vector<std::jthread> threads;  // joined however this scope is left
  try {
    for (int j = 1; j < jobs; ++j) threads.emplace_back(worker);
  } catch (...) {  // no thread to be had: stop the others, report it
    std::lock_guard lock(mutex);
    if (!error) error = std::current_exception();
    failed = true;
  }
  worker();
  threads.clear();
  if (error) std::rethrow_exception(error);
  return !stopped && progress.done == progress.runs;
}

}  // namespace mnist
