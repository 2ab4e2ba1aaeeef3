#include "experiments/compare.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io/file.h"
#include "nn/models.h"
#include "train/metrics.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

std::string run_name(const std::string& optimizer, double lr, uint64_t seed) {
  return fmt::format("{}_lr{:g}_seed{}", optimizer, lr, seed);
}

std::string run_path(const std::string& out_dir, const RunSpec& run) {
  return (std::filesystem::path(out_dir) / "runs" / (run.name + ".jsonl")).string();
}

std::vector<RunSpec> plan_grid(const CompareSpec& spec) {
  if (spec.optimizers.empty()) {
    throw UsageError(
        fmt::format("--optimizers: the list is empty; give one or more of {}", fmt::join(optimizer_names(), ", ")));
  }
  for (size_t i = 0; i < spec.optimizers.size(); ++i) {
    const std::string& name = spec.optimizers[i];
    const auto& known = optimizer_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw UsageError(
          fmt::format("--optimizers: unknown optimizer '{}' (choose from {})", name, fmt::join(known, ", ")));
    }
    if (std::find(spec.optimizers.begin(), spec.optimizers.begin() + i, name) != spec.optimizers.begin() + i) {
      throw UsageError(fmt::format("--optimizers: '{}' is listed twice", name));
    }
  }
  for (size_t i = 0; i < spec.lrs.size(); ++i) {
    const double lr = spec.lrs[i];
    if (!(std::isfinite(lr) && lr > 0)) {
      throw UsageError(fmt::format("--lrs: a learning rate must be a finite number > 0, got {}", lr));
    }
    if (std::find(spec.lrs.begin(), spec.lrs.begin() + i, lr) != spec.lrs.begin() + i) {
      throw UsageError(fmt::format("--lrs: {:g} is listed twice", lr));
    }
  }
  if (spec.lrs.size() > 12) {
    throw UsageError(fmt::format("--lrs: at most 12 learning rates (each gets a plot panel), got {}", spec.lrs.size()));
  }
  for (size_t i = 0; i < spec.lrs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (fmt::format("{:g}", spec.lrs[i]) == fmt::format("{:g}", spec.lrs[j])) {
        throw UsageError(
            fmt::format("--lrs: {} and {} look the same to 6 significant digits ({:g}), which names runs "
                        "and table rows; give rates that differ there",
                        spec.lrs[j], spec.lrs[i], spec.lrs[i]));
      }
    }
  }
  if (spec.seeds < 1 || spec.seeds > 1000) {
    throw UsageError(fmt::format("--seeds: must be between 1 and 1000, got {}", spec.seeds));
  }
  if (!(std::isfinite(spec.loss_threshold) && spec.loss_threshold > 0)) {
    throw UsageError(fmt::format("--loss-threshold: must be a finite number > 0, got {}", spec.loss_threshold));
  }
  std::vector<RunSpec> runs;
  for (const std::string& optimizer : spec.optimizers) {
    std::vector<std::optional<double>> lrs(spec.lrs.begin(), spec.lrs.end());
    if (lrs.empty()) lrs.emplace_back();  // the optimizer's default
    for (const auto& lr : lrs) {
      for (int s = 0; s < spec.seeds; ++s) {
        TrainConfig config = spec.base;
        config.optimizer.name = optimizer;
        config.optimizer.lr = lr;
        config.seed = spec.first_seed + static_cast<uint64_t>(s);
        config.metrics.clear();
        config.checkpoint_every = 0;
        config = config.resolved();
        RunSpec run;
        run.optimizer = optimizer;
        run.lr = *config.optimizer.lr;
        run.seed = config.seed;
        run.name = run_name(optimizer, run.lr, run.seed);
        run.config = std::move(config);
        runs.push_back(std::move(run));
      }
    }
  }
  return runs;
}

std::vector<std::string> settings_differences(const std::string& before, const std::string& now) {
  std::vector<std::string> out;
  const json a = json::parse(before, nullptr, false), b = json::parse(now, nullptr, false);
  if (a.is_discarded() || !a.is_object()) return {"compare.json is not a settings file"};
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) {
      out.push_back(fmt::format("{} (not recorded before, now {})", key, value.dump()));
    } else if (a[key] != value) {
      if (value.is_object() && a[key].is_object()) {
        for (const auto& [inner, v] : value.items()) {
          const json old = a[key].contains(inner) ? a[key][inner] : json();
          if (old != v) out.push_back(fmt::format("{}.{} ({} before, {} now)", key, inner, old.dump(), v.dump()));
        }
      } else {
        out.push_back(fmt::format("{} ({} before, {} now)", key, a[key].dump(), value.dump()));
      }
    }
  }
  return out;
}

std::string grid_settings_json(const CompareSpec& spec) {
  TrainConfig c = spec.base;
  c.optimizer.name.clear();
  c.optimizer.lr.reset();
  c.seed = 0;
  c.metrics.clear();
  c.checkpoint_every = 0;
  json j = json::parse(c.to_json());
  j["optimizer"].erase("name");
  j.erase("seed");
  j.erase("metrics");
  j.erase("checkpoint_every");
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(spec.base.data, ec);
  if (!ec) j["data"] = canonical.string();
  j["train_samples"] = spec.train_samples;
  return j.dump(2) + "\n";
}

RunRecord read_run(const std::string& path) {
  RunRecord record;
  std::istringstream lines(read_file(path));
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (line.empty()) continue;
    const json r = json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const std::string& why) {
      return Error(fmt::format("{}:{}: not a metrics record ({})", path, number, why));
    };
    if (!r.is_object() || !r.contains("event") || !r["event"].is_string()) throw bad("no \"event\"");
    try {
      const std::string event = r["event"];
      if (event == "step") {
        record.losses.push_back({r.at("step").get<int64_t>(), r.at("loss").get<double>()});
      } else if (event == "epoch") {
        record.epochs.push_back({r.at("epoch").get<int>(), r.at("train_loss").get<double>(),
                                 r.at("accuracy").get<double>(), r.at("eval_loss").get<double>(),
                                 r.at("seconds").get<double>()});
      } else if (event == "final") {
        record.finished = true;
        record.diverged = r.value("diverged", false);
        record.steps = r.at("steps").get<int64_t>();
        record.seconds = r.at("seconds").get<double>();
        if (!record.diverged) {
          record.test_accuracy = r.at("accuracy").get<double>();
          record.test_loss = r.at("eval_loss").get<double>();
        }
      } else {
        throw bad("unknown event \"" + event + "\"");
      }
    } catch (const json::exception& e) {
      throw bad(e.what());
    }
  }
  return record;
}

double smoothing_steps(int64_t total_steps) { return std::max(1.0, static_cast<double>(total_steps) / 30.0); }

std::vector<double> smooth_losses(const std::vector<RunRecord::Point>& points, double tau) {
  const double beta = 1.0 - 1.0 / std::max(1.0, tau);
  std::vector<double> smoothed;
  smoothed.reserve(points.size());
  double avg = 0, norm = 0;
  int64_t previous = -1;  // the step before the first
  for (const auto& p : points) {
    const double decay = std::pow(beta, static_cast<double>(std::max<int64_t>(1, p.step - previous)));
    avg = decay * avg + (1 - decay) * p.loss;
    norm = decay * norm + (1 - decay);
    smoothed.push_back(norm > 0 ? avg / norm : p.loss);
    previous = p.step;
  }
  return smoothed;
}

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  s.n = static_cast<int>(values.size());
  if (s.n == 0) return s;
  for (double v : values) s.mean += v;
  s.mean /= s.n;
  if (s.n > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(squares / (s.n - 1));
  }
  return s;
}

std::vector<SummaryRow> summarize(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records,
                                  double loss_threshold) {
  std::vector<SummaryRow> rows;
  for (size_t i = 0; i < runs.size();) {
    size_t end = i;
    while (end < runs.size() && runs[end].optimizer == runs[i].optimizer && runs[end].lr == runs[i].lr) ++end;
    SummaryRow row;
    row.optimizer = runs[i].optimizer;
    row.lr = runs[i].lr;
    std::vector<double> losses, accuracies, seconds, steps;
    for (size_t r = i; r < end; ++r) {
      const RunRecord& rec = records[r];
      ++row.runs;
      seconds.push_back(rec.seconds);
      if (rec.diverged) {
        ++row.diverged;
        continue;
      }
      if (!rec.epochs.empty()) losses.push_back(rec.epochs.back().train_loss);
      accuracies.push_back(rec.test_accuracy);
      const auto smoothed = smooth_losses(rec.losses, smoothing_steps(rec.steps));
      for (size_t k = 0; k < smoothed.size(); ++k) {
        if (smoothed[k] <= loss_threshold) {
          steps.push_back(static_cast<double>(rec.losses[k].step + 1));
          break;
        }
      }
    }
    row.final_loss = stat_of(losses);
    row.accuracy = stat_of(accuracies);
    row.seconds = stat_of(seconds);
    row.steps_to_threshold = stat_of(steps);
    row.reached = static_cast<int>(steps.size());
    rows.push_back(row);
    i = end;
  }
  return rows;
}

std::string summary_csv(const std::vector<SummaryRow>& rows) {
  std::string out =
      "optimizer,lr,runs,diverged,test_accuracy_percent_mean,"
      "test_accuracy_percent_sd,final_train_loss_mean,"
      "final_train_loss_sd,runs_reaching_loss,steps_to_loss_mean,"
      "seconds_mean\n";
  auto num = [](const Stat& s, double v, const char* f) { return s.n ? fmt::format(fmt::runtime(f), v) : ""; };
  auto sd = [](const Stat& s, double v, const char* f) { return s.n > 1 ? fmt::format(fmt::runtime(f), v) : ""; };
  for (const auto& r : rows) {
    out += fmt::format("{},{:g},{},{},{},{},{},{},{},{},{:.2f}\n", r.optimizer, r.lr, r.runs, r.diverged,
                       num(r.accuracy, 100 * r.accuracy.mean, "{:.4f}"), sd(r.accuracy, 100 * r.accuracy.sd, "{:.4f}"),
                       num(r.final_loss, r.final_loss.mean, "{:.6f}"), sd(r.final_loss, r.final_loss.sd, "{:.6f}"),
                       r.reached, num(r.steps_to_threshold, r.steps_to_threshold.mean, "{:.1f}"), r.seconds.mean);
  }
  return out;
}

std::string summary_markdown(const std::vector<SummaryRow>& rows, double loss_threshold) {
  std::string out = fmt::format(
      "| optimizer | lr | test accuracy (%) | final train loss | "
      "steps to loss ≤ {:g} | seconds per run |\n"
      "|---|---:|---:|---:|---:|---:|\n",
      loss_threshold);
  for (const auto& r : rows) {
    std::string accuracy, loss, steps;
    if (r.accuracy.n > 0) {
      accuracy = r.accuracy.n > 1 ? fmt::format("{:.2f} ± {:.2f}", 100 * r.accuracy.mean, 100 * r.accuracy.sd)
                                  : fmt::format("{:.2f}", 100 * r.accuracy.mean);
      loss = r.final_loss.n > 1 ? fmt::format("{:.4f} ± {:.4f}", r.final_loss.mean, r.final_loss.sd)
                                : fmt::format("{:.4f}", r.final_loss.mean);
    }
    if (r.diverged > 0) {
      const std::string note = fmt::format("diverged in {} of {} runs", r.diverged, r.runs);
      accuracy = accuracy.empty() ? note : accuracy + " (" + note + ")";
      if (loss.empty()) loss = "–";
    }
    steps = r.reached == 0 ? "never" : fmt::format("{:.0f}", r.steps_to_threshold.mean);
    if (r.reached > 0 && r.reached < r.runs) steps += fmt::format(" ({} of {} runs)", r.reached, r.runs);
    out += fmt::format("| {} | {:g} | {} | {} | {} | {} |\n", r.optimizer, r.lr, accuracy, loss, steps,
                       fmt::format(fmt::runtime(r.seconds.mean >= 1 ? "{:.1f}" : "{:.2f}"), r.seconds.mean));
  }
  return out;
}

namespace {

// Optimizer steps in a whole run.
int64_t run_steps(const RunSpec& run, const DataSplits& data) {
  return static_cast<int64_t>(run.config.epochs) * batches_per_epoch(data.train.count, run.config.batch_size);
}

// Trains one run into its .partial file and renames it when it is done.
// on_batch gets the steps taken so far. Returns false when stopped early.
bool train_run(const RunSpec& run, const DataSplits& data, const std::string& path, ThreadPool& pool,
               const std::function<void(int64_t steps)>& on_batch, const std::function<bool()>& should_stop) {
  const TrainConfig& config = run.config;
  const std::string partial = path + ".partial";
  Network<float> network = make_network<float>(config.model, {1, data.train.rows, data.train.cols}, kNumClasses);
  network.init(config.seed);
  auto optimizer = make_optimizer(config.optimizer, network.tensors());
  Schedule schedule(config.schedule, *config.optimizer.lr, batches_per_epoch(data.train.count, config.batch_size),
                    run_steps(run, data));
  Trainer trainer(network, *optimizer, data, config, pool);
  {
    MetricsLog log(partial, TrainState{});
    TrainCallbacks callbacks;
    callbacks.on_step = [&](const StepEvent& e) { log.step(e); };
    callbacks.on_batch = [&](const StepEvent& e) { on_batch(e.step + 1); };
    callbacks.on_epoch = [&](const EpochEvent& e) { log.epoch(e); };
    callbacks.should_stop = should_stop;
    try {
      if (!trainer.run(schedule, callbacks)) return false;
      log.final(trainer.test_result(), trainer.state().step, trainer.state().seconds);
    } catch (const Diverged& e) {
      log.diverged(e.step, e.loss, trainer.state().seconds);
    }
    log.close();  // on disk before it is renamed into place
  }
  std::error_code ec;
  std::filesystem::rename(partial, path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename to {}: {}", partial, path, ec.message()));
  return true;
}

}  // namespace

bool run_grid(const std::vector<RunSpec>& runs, const DataSplits& data, const std::string& out_dir,
              const GridOptions& options, const GridCallbacks& callbacks) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::mutex mutex;
  GridProgress progress;
  progress.runs = static_cast<int>(runs.size());
  std::vector<const RunSpec*> todo;
  for (const RunSpec& run : runs) {
    const std::string path = run_path(out_dir, run);
    if (file_exists(path)) {
      // A file without its final record (cut short outside our control) is
      // not a finished run: train it again.
      std::optional<RunRecord> record;
      try {
        record = read_run(path);
      } catch (const Error&) {
      }
      if (record && record->finished) {
        ++progress.done;
        ++progress.skipped;
        if (callbacks.on_run_done) callbacks.on_run_done(run, *record, true);
        continue;
      }
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
      ThreadPool pool(options.threads_per_job);
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
        const bool finished = train_run(run, data, path, pool, on_batch, stop_now);
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
