// mnist compare: a grid of optimizers x learning rates x seeds, with a
// summary table and plots.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/common.h"
#include "experiments/compare.h"
#include "plot/figure.h"
#include "experiments/grid.h"
#include "experiments/runner.h"
#include "io/file.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

// The registry's rows marked for comparison by default.
std::vector<std::string> default_optimizers() {
  std::vector<std::string> names;
  for (const OptimizerRow& row : optimizer_registry()) {
    if (row.compared_by_default) names.emplace_back(row.name);
  }
  return names;
}

struct CompareArgs {
  CompareSpec spec;
  std::vector<std::string> optimizers = default_optimizers();
  std::vector<std::string> lrs, lr_factors;
  std::string out = "compare";
  int jobs = 0, threads = 0;
  CLI::Option* log_opt = nullptr;
};

// A comma-separated list without its empty items.
std::vector<std::string> items(const std::vector<std::string>& list) {
  std::vector<std::string> out;
  for (const auto& s : list) {
    if (!s.empty()) out.push_back(s);
  }
  return out;
}

std::vector<double> parse_numbers(const std::vector<std::string>& list, const std::string& flag) {
  std::vector<double> values;
  for (const std::string& s : items(list)) {
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
      throw UsageError(fmt::format("{}: '{}' is not a number", flag, s));
    }
    values.push_back(v);
  }
  if (!list.empty() && values.empty()) {
    throw UsageError(fmt::format("{}: the list is empty; give values such as 0.1,0.01,0.001", flag));
  }
  return values;
}

std::string duration(double seconds) {
  const auto s = static_cast<long>(std::lround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
}

// Whole runs side by side beat threads inside one run (docs/experiments.md).
GridOptions grid_options(const CompareArgs& args, size_t runs) {
  GridOptions options;
  const int cores = resolve_threads(args.threads);
  options.jobs = std::min<int>(args.jobs > 0 ? args.jobs : cores, static_cast<int>(runs));
  options.threads_per_job = std::max(1, cores / options.jobs);
  return options;
}

void print_plan(const CompareArgs& args, size_t runs, int samples, const GridOptions& options, const char* jobs) {
  const CompareSpec& spec = args.spec;
  const size_t n_opt = spec.optimizers.size(), n_lr = spec.lrs.size() + spec.lr_factors.size();
  const std::string rates = n_lr == 0              ? "default learning rates"
                            : spec.lrs.empty()     ? fmt::format("{} factor{} of the defaults", n_lr, n_lr == 1 ? "" : "s")
                                                   : fmt::format("{} learning rate{}", n_lr, n_lr == 1 ? "" : "s");
  fmt::print(
      "compare: {} runs ({} optimizer{} x {} x {} seed{}), {} epoch{} of {} samples each; {} {}, {} thread{} "
      "each; writing {}\n",
      runs, n_opt, n_opt == 1 ? "" : "s", rates,
      spec.seeds, spec.seeds == 1 ? "" : "s", spec.base.epochs, spec.base.epochs == 1 ? "" : "s", samples,
      options.jobs, jobs, options.threads_per_job, options.threads_per_job == 1 ? "" : "s", args.out);
  std::fflush(stdout);
}

// The progress line on a terminal and a line per finished run.
GridCallbacks printed_callbacks(size_t runs, int& done) {
  const bool terminal = stdout_is_terminal();
  using Clock = std::chrono::steady_clock;
  auto last_draw = std::make_shared<Clock::time_point>(Clock::now() - std::chrono::seconds(1));
  GridCallbacks callbacks;
  callbacks.on_progress = [terminal, last_draw](const GridProgress& p) {
    if (!terminal || Clock::now() - *last_draw < std::chrono::milliseconds(200)) return;
    *last_draw = Clock::now();
    std::string running;
    for (const auto& [name, fraction] : p.running) running += fmt::format("  {} {:.0f}%", name, 100 * fraction);
    const double rate = p.seconds > 0 ? static_cast<double>(p.steps_done) / p.seconds : 0;
    const std::string eta = rate > 0 ? duration(static_cast<double>(p.total_steps - p.steps_done) / rate) : "?";
    fmt::print("\r\033[K[{}/{} runs]{}  {} left", p.done, p.runs, running, eta);
    std::fflush(stdout);
  };
  callbacks.on_run_done = [terminal, runs, &done](const RunSpec& run, const RunRecord& rec, bool skipped) {
    ++done;
    if (terminal) fmt::print("\r\033[K");
    const auto loss = rec.final_train_loss();
    const std::string result =
        rec.diverged ? fmt::format("diverged after {} step{}", rec.steps, rec.steps == 1 ? "" : "s")
                     : fmt::format("test accuracy {:.2f}%{}", 100 * rec.test_accuracy,
                                   loss ? fmt::format(", final train loss {:.4f}", *loss) : "");
    fmt::print("run {}/{} {}: {}, {:.1f} s{}\n", done, runs, run.name, result, rec.seconds,
               skipped ? " (already done)" : "");
    std::fflush(stdout);
  };
  callbacks.should_stop = [] { return stop_signal() != 0; };
  return callbacks;
}

// The grid, its data and its folder, checked before any training. Under
// mpirun every rank plans and loads the same (or all refuse), and rank 0
// alone owns the folder.
struct Prepared {
  std::vector<RunSpec> runs;
  DataSplits data;
};
Prepared prepare(CompareArgs& args) {
  CompareSpec& spec = args.spec;
  collectively([&] {
    spec.optimizers = items(args.optimizers);
    spec.lrs = parse_numbers(args.lrs, "--lrs");
    spec.lr_factors = parse_numbers(args.lr_factors, "--lr-factors");
    plan_grid(spec);  // every usage error before any work
    if (args.jobs < 0 || args.jobs > 256) throw UsageError(fmt::format("--jobs: must be 0 to 256, got {}", args.jobs));
    if (prints()) {
      plot::require_drivers();
      prepare_compare_folder(args.out);
      if (file_exists(spec.base.data)) fmt::print("loading mnist dataset from {} ......\n", spec.base.data);
    }
  });
  Prepared p;
  collectively([&] { p.data = load_compare_data(spec); });
  // The loss is logged about 300 times a run unless --log-every says otherwise.
  const int batches = batches_per_epoch(p.data.train.count, spec.base.batch_size);
  if (args.log_opt->count() == 0) {
    spec.base.log_every = std::max(1, static_cast<int>(static_cast<int64_t>(batches) * spec.base.epochs / 300));
  }
  p.runs = plan_grid(spec);
  collectively([&] {
    if (prints()) check_compare_settings(args.out, grid_settings_json(spec));
  });
  collectively([&] { require_same_everywhere(mpi(), arguments(), p.data); });
  return p;
}

int run_compare(CompareArgs& args) {
  const Prepared p = prepare(args);
  int done = 0;
  GridCallbacks callbacks = printed_callbacks(p.runs.size(), done);
  if (mpi().active()) {
    // One run at a time on each rank, its threads sharing the cores with the other ranks'.
    const int threads = args.threads > 0 ? args.threads : std::max(1, resolve_threads(0) / mpi().size());
    if (prints()) print_plan(args, p.runs.size(), p.data.train.count, {mpi().size(), threads}, "ranks");
    mpi().catch_signals();
    run_grid_mpi(mpi(), p.runs, p.data, args.out, threads, callbacks.on_run_done);
    if (!prints()) return 0;
  } else {
    const GridOptions options = grid_options(args, p.runs.size());
    print_plan(args, p.runs.size(), p.data.train.count, options, "at a time");
    catch_stop_signals();
    if (!run_grid(p.runs, p.data, args.out, options, callbacks)) {
      if (stdout_is_terminal()) fmt::print("\r\033[K");
      fmt::print("interrupted: {} of {} runs done; run the same command again to continue\n", done, p.runs.size());
      return 128 + stop_signal();
    }
  }
  const std::string table = write_compare_outputs(args.out, args.spec, p.runs, p.data.train.count);
  fmt::print("\n{}\nwrote {}/summary.csv, summary.md, timing.csv, loss.png, loss.svg, sensitivity.png, "
             "sensitivity.svg\n",
             table, args.out);
  return 0;
}

// The grid's own flags: what varies between runs.
void add_grid_options(CLI::App* cmd, CompareArgs& args, const std::string& group) {
  cmd->add_option("--optimizers", args.optimizers,
                  fmt::format("Optimizers to compare: any of {}", fmt::join(optimizer_names(), ", ")))
      ->delimiter(',')
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--lrs", args.lrs,
                  "Learning rates, e.g. 0.1,0.01,0.001 (default: each optimizer's own); a learning-rate-free "
                  "optimizer takes them as its multiplier (Prodigy's --d-coef, DoG's --lr)")
      ->delimiter(',')
      ->group(group);
  cmd->add_option("--lr-factors", args.lr_factors,
                  "Or factors of each optimizer's own default, e.g. 0.1,0.3,1,3,10: one sweep fits them all")
      ->delimiter(',')
      ->group(group);
  cmd->add_option("--seeds", args.spec.seeds,
                  "Seeds per optimizer and learning rate (for mean and "
                  "standard deviation)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--seed", args.spec.first_seed, "First seed; the others follow it")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--loss-threshold", args.spec.loss_threshold, "Report the steps the smoothed loss takes to reach this")
      ->capture_default_str()
      ->group(group);
}

}  // namespace

Command add_compare(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CompareSpec& spec = args->spec;
  TrainConfig& c = spec.base;
  auto* cmd = app.add_subcommand("compare", "Train a grid of optimizers x learning rates x seeds; table and plots");
  cmd->footer(
      "Examples:\n"
      "  mnist compare --optimizers sgd --lrs 0.1,0.01,0.001 --seeds 3 --out "
      "lr-study\n"
      "  mnist compare --optimizers sgd,momentum,adagrad,rmsprop,adam,adamw "
      "--epochs 1 --out optimizers\n"
      "  mnist compare --optimizers sgd,adam --lrs 0.1,0.01,0.001 "
      "--train-samples 5000 --epochs 2 --out quick\n"
      "Interrupted and run again with the same --out, it skips the runs "
      "already done.");
  const std::string grid_group = "Grid", data_group = "Data and model", opt_group = "Optimizer (every run)",
                    sched_group = "Learning-rate schedule (every run)", run_group = "Runs and output";
  add_grid_options(cmd, *args, grid_group);

  add_data_option(cmd, c.data)->group(data_group);
  cmd->add_option("--train-samples", spec.train_samples, "Train on the first N training samples (quick studies)")
      ->group(data_group);
  add_model_option(cmd, c.model)->group(data_group);

  add_optimizer_options(cmd, c.optimizer, opt_group,
                        /*with_name_and_lr=*/false);
  add_optional(cmd, "--clip-norm", c.clip_norm, "Clip the gradient's global L2 norm to this")->group(opt_group);
  add_schedule_options(cmd, c.schedule, sched_group);

  add_batching_options(cmd, c, run_group);
  cmd->add_option("--out", args->out, "Folder for runs/, summary.csv, summary.md and the plots")
      ->capture_default_str()
      ->group(run_group);
  cmd->add_option("--jobs", args->jobs, "Runs trained at once (default: one per core, one thread each)")
      ->group(run_group);
  add_threads_option(cmd, args->threads)->group(run_group);
  args->log_opt =
      cmd->add_option("--log-every", c.log_every, "Log the loss every N batches (default: ~300 points a run)")
          ->group(run_group);
  return {cmd, [args] { return run_compare(*args); }};
}

}  // namespace mnist::cli
