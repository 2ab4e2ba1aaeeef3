// mnist train: the course's training run, and every variation of it.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "io/file.h"
#include "dist/mpi.h"
#include "train/recipes.h"
#include "train/run.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct TrainArgs {
  TrainConfig config;
  std::string save = "mnist.safetensors", resume;
  int threads = 0;
  int64_t stop_at = 0;                        // --stop-at
  std::vector<CLI::Option*> fixed_on_resume;  // flags that would change a resumed run's arithmetic
  CLI::Option *save_opt, *data_opt, *log_opt, *checkpoint_opt, *metrics_opt;
};

// Redraws one status line at the bottom of a terminal.
// Epochs and batches are numbered from 0, as in the course's log lines; the
// ETA runs to where this session ends (--stop-at, or the run's end).
class ProgressBar {
 public:
  void draw(const StepEvent& e, int last_epoch, int64_t end_step, int64_t first_step, double first_seconds) {
    constexpr int kWidth = 24;
    const int filled = (e.batch + 1) * kWidth / e.batches;
    const double done = static_cast<double>(e.step + 1 - first_step);
    const double left = (e.seconds - first_seconds) / done * static_cast<double>(end_step - e.step - 1);
    fmt::print(
        "\r\033[Kepoch {}/{} [{:=<{}}{: <{}}] batch {}/{} loss {:.4f} lr "
        "{:.3g} eta {:.0f}s",
        e.epoch, last_epoch, "", filled, "", kWidth - filled, e.batch, e.batches - 1, e.loss, e.lr, left);
    std::fflush(stdout);
  }
  void clear() { fmt::print("\r\033[K"); }
};

// The run's plan: a new run from the flags, or the checkpoint to resume
// with the few flags that may change. Under mpirun, rank 0 alone saves and
// logs, and every rank resumes from the checkpoint as rank 0 read it.
RunPlan make_plan(TrainArgs& args) {
  const bool writes = prints();
  if (args.resume.empty()) {
    TrainConfig config = args.config;
    if (!writes) config.metrics.clear();
    RunPlan plan = plan_new_run(config, writes ? args.save : "", args.threads, args.stop_at);
    plan.keep_existing = true;
    return plan;
  }
  for (const CLI::Option* opt : args.fixed_on_resume) {
    if (opt->count() > 0) {
      throw UsageError(
          fmt::format("{}: cannot be changed when resuming; the run continues as it was configured", opt->get_name()));
    }
  }
  ResumeChanges changes;
  const TrainConfig& c = args.config;
  if (args.data_opt->count()) changes.data = c.data;
  if (args.log_opt->count()) changes.log_every = c.log_every;
  if (args.checkpoint_opt->count()) changes.checkpoint_every = c.checkpoint_every;
  if (args.metrics_opt->count()) changes.metrics = c.metrics;
  if (args.save_opt->count()) changes.save = args.save;
  if (!writes) changes.save = changes.metrics = "";
  changes.threads = args.threads;
  changes.stop_at = args.stop_at;
  RunPlan plan =
      plan_resume(std::make_shared<SavedModel>(parse_model(broadcast_file(mpi(), args.resume), args.resume)), changes);
  plan.keep_existing = true;
  return plan;
}

// The run, built on every rank (under mpirun, each computing its share of
// every batch, and refusing to start unless all ranks run the same thing).
std::unique_ptr<TrainingRun> start_run(TrainArgs& args, std::unique_ptr<GradientExchange>& exchange) {
  std::optional<RunPlan> plan;
  collectively([&] { plan = make_plan(args); });
  if (plan->finished_accuracy) {
    if (prints()) {
      fmt::print(plan->config.metrics == "-" ? stderr : stdout,
                 "{}: this run has finished ({} steps, test accuracy {:.2f}%); nothing to resume\n", args.resume,
                 plan->position_step, 100 * *plan->finished_accuracy);
    }
    return nullptr;
  }
  if (prints() && file_exists(plan->config.data)) {
    fmt::print(plan->config.metrics == "-" ? stderr : stdout, "loading mnist dataset from {} ......\n",
               plan->config.data);
  }
  if (mpi().active()) {
    exchange = make_mpi_exchange(mpi());
    plan->options.exchange = exchange.get();
  }
  std::unique_ptr<TrainingRun> run;
  collectively([&] { run = std::make_unique<TrainingRun>(std::move(*plan)); });
  collectively([&] { require_same_everywhere(mpi(), arguments(), run->data()); });
  if (mpi().active()) {
    mpi().catch_signals();
  } else {
    catch_stop_signals();
  }
  return run;
}

// What train prints: the course's lines, the status line on a terminal.
RunEvents printed_events(TrainingRun& run, ProgressBar& bar, bool terminal, std::FILE* out) {
  const int batches = run.trainer().batches_per_epoch();
  const int last_epoch = run.config().epochs_touched(batches) - 1;
  const int64_t end_step = run.plan().stop_at > 0 ? std::min(run.plan().stop_at, run.total_steps()) : run.total_steps();
  const int64_t first_step = run.steps();
  const double first_seconds = run.trainer().state().seconds;
  RunEvents events;
  events.on_step = [terminal, out, &bar](const StepEvent& e) {
    if (terminal) bar.clear();
    fmt::print(out, "epoch: {}, batch: {}, loss is: {}\n", e.epoch, e.batch, static_cast<float>(e.loss));
    std::fflush(out);
  };
  events.on_batch = [=, &run, &bar](const StepEvent& e) {
    if (terminal) bar.draw(e, last_epoch, end_step, first_step, first_seconds);
    if (stop_signal() != 0) run.stop();
  };
  events.on_kept = [terminal, out, &bar](const std::string& path, const std::string& kept) {
    if (terminal) bar.clear();
    fmt::print(out, "{} held an earlier model: kept as {}\n", path, kept);
    std::fflush(out);
  };
  events.on_epoch = [terminal, out, &bar](const EpochEvent& e) {
    if (terminal) bar.clear();
    fmt::print(out, "epoch: {} done, lr: {:.6g}, train loss: {:.4f}, {} accuracy: {:.2f}%, {:.0f} images/s, {:.1f} s\n",
               e.epoch, e.lr, e.train_loss, e.eval_split, 100 * e.eval.accuracy(), e.images_per_second, e.seconds);
    std::fflush(out);
  };
  return events;
}

int run_train(TrainArgs& args) {
  std::unique_ptr<GradientExchange> exchange;
  const std::unique_ptr<TrainingRun> run = start_run(args, exchange);
  if (!run) return 0;  // a finished run, resumed
  const std::string save = run->plan().save;
  const TrainConfig& config = run->config();
  // With --metrics -, the records are standard output: the course's lines go to stderr.
  std::FILE* out = config.metrics == "-" ? stderr : stdout;
  if (!args.resume.empty() && prints()) {
    const TrainState& s = run->trainer().state();
    fmt::print(out, "resuming {} at epoch {}, batch {} (step {})\n", args.resume, s.epoch, s.batch, run->steps());
  }
  const bool terminal = out == stdout && stdout_is_terminal() && !mpi().active();
  ProgressBar bar;
  const RunResult result = run->run(prints() ? printed_events(*run, bar, terminal, out) : RunEvents{});
  if (terminal) bar.clear();
  if (!prints()) return result.status == RunStatus::Diverged ? 1 : 0;  // rank 0 reports
  if (result.status == RunStatus::Diverged) {
    throw Error(fmt::format("{}. The learning rate {:g} is probably too large for {}: try a smaller --lr{}{}",
                            result.message, *config.optimizer.lr, config.optimizer.name,
                            config.clip_norm ? "" : " or --clip-norm 1",
                            result.checkpoint_kept ? fmt::format("; the last good checkpoint {} is untouched", save)
                                                   : ""));
  }
  if (result.status == RunStatus::Stopped) {
    fmt::print(out, "{} after step {} (epoch {}, batch {}); saved to {}\ncontinue with: mnist train --resume {}\n",
               stop_signal() ? "interrupted" : "stopped", result.steps, result.position.epoch,
               result.position.batch, save, save);
    return stop_signal() ? 128 + stop_signal() : 0;
  }
  const EvalResult& test = *result.test;
  fmt::print(out, "test accuracy: {:.2f}% ({}/{}), loss: {:.4f}\nmodel saved to {}\n", 100 * test.accuracy(),
             test.correct, test.samples, test.loss, save);
  return 0;
}

// The flags that a resumed run may change, and --resume itself.
void add_run_flags(CLI::App* cmd, TrainArgs& args, const std::string& group) {
  TrainConfig& c = args.config;
  add_threads_option(cmd, args.threads)->group(group);
  args.log_opt =
      cmd->add_option("--log-every", c.log_every, "Print the loss every N batches")->capture_default_str()->group(group);
  args.save_opt = cmd->add_option("--save", args.save, "Checkpoint to write (safetensors); with --resume, the same file")
                      ->capture_default_str()
                      ->group(group);
  cmd->add_option("--resume", args.resume, "Continue the run saved in this checkpoint, as it was configured")
      ->group(group);
  cmd->add_option("--stop-at", args.stop_at,
                  "Stop (and save) once this many optimizer steps are taken in all; --resume continues")
      ->group(group);
  args.checkpoint_opt =
      cmd->add_option("--checkpoint-every", c.checkpoint_every,
                      "Write --save every N steps and at every epoch end (0: at the end only)")
          ->group(group);
  args.metrics_opt =
      cmd->add_option("--metrics", c.metrics, "Write one JSON line per logged step and per epoch")->group(group);
}

}  // namespace

Command add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  TrainConfig& c = args->config;
  OptimizerConfig& o = c.optimizer;
  ScheduleConfig& s = c.schedule;
  auto* cmd = app.add_subcommand("train",
                                 "Train a model (defaults: the course's CNN, "
                                 "SGD, lr 0.01, batch 100, 5 epochs)");
  cmd->footer(
      "Examples:\n"
      "  mnist train\n"
      "  mnist train --lr 0.1 --save fast.safetensors\n"
      "  mnist train --optimizer adam --schedule cosine --warmup-steps 100\n"
      "  mnist train --checkpoint-every 200 --save run.safetensors   (then: "
      "mnist train --resume run.safetensors)\n"
      "  mnist train --stop-at 300 --save run.safetensors          (a break at step 300; --resume goes on)\n"
      "  mnist train --recipe speedrun --save speed.safetensors    (99% in under 5 s)\n"
      "  mnist train --recipe best --seed 1 --save best.safetensors\n"
      "  mnist train --data /usr/share/datasets/fashion-mnist --save fashion.safetensors\n"
      "      (Fashion-MNIST: apt-get install dataset-fashion-mnist)\n"
      "A --save that already holds a model keeps it as NAME.1.safetensors (then .2, ...).");
  auto fixed = [&](CLI::Option* opt) {
    args->fixed_on_resume.push_back(opt);
    return opt;
  };
  const std::string data_group = "Data and model", opt_group = "Optimizer", sched_group = "Learning-rate schedule",
                    run_group = "Run, checkpoints and logs";
  // First, so that every flag given with it is applied after it.
  std::vector<std::string> recipe_lines;
  for (const Recipe& r : recipes()) recipe_lines.push_back(fmt::format("{} ({})", r.name, r.summary));
  fixed(cmd->add_option_function<std::string>(
                "--recipe", [&c](const std::string& name) { find_recipe(name).apply(c); },
                fmt::format("A preset that the other flags given adjust: {} (docs/accuracy.md)", fmt::join(recipe_lines, ", ")))
            ->check(library_check("--recipe", [](const std::string& name) { find_recipe(name); }))
            ->group(data_group));
  args->data_opt = add_data_option(cmd, c.data)->group(data_group);
  fixed(add_model_option(cmd, c.model)->group(data_group));
  fixed(cmd->add_option("--train-samples", c.train_samples, "Train on the first N training samples (0: all)")
            ->group(data_group));
  fixed(cmd->add_option("--init", c.init,
                        "Start from the weights in this safetensors file "
                        "instead of random ones")
            ->group(data_group));

  for (CLI::Option* opt : add_optimizer_options(cmd, o, opt_group, /*with_lr=*/true)) fixed(opt);
  fixed(add_optional(cmd, "--clip-norm", c.clip_norm, "Clip the gradient's global L2 norm to this")->group(opt_group));
  for (CLI::Option* opt : add_schedule_options(cmd, s, sched_group)) fixed(opt);

  const std::string aug_group = "Augmentation and regularisation";
  fixed(cmd->add_option("--rotate", c.augment.rotate, "Rotate training images by up to this many degrees (0: off)")
            ->group(aug_group));
  fixed(cmd->add_option("--zoom", c.augment.zoom, "Scale training images by 1 +- up to this (0: off)")->group(aug_group));
  fixed(cmd->add_option("--shift", c.augment.shift, "Shift training images by up to this many pixels (0: off)")
            ->group(aug_group));
  fixed(cmd->add_flag("--flip", c.augment.flip, "Mirror half the training images left to right (for clothes, not digits)")
            ->group(aug_group));
  fixed(cmd->add_option("--cutout", c.augment.cutout,
                        "Blank a square of this many pixels a side at a random place in each training image (0: off)")
            ->group(aug_group));
  fixed(cmd->add_option("--label-smoothing", c.label_smoothing,
                        "Train towards 1 - X + X/10 for the label and X/10 elsewhere (0: off)")
            ->group(aug_group));
  fixed(add_optional(cmd, "--dropout", c.dropout,
                     "Set the model's dropout rate, in [0, 1) (0: off; only models with dropout, like best)")
            ->group(aug_group));
  fixed(cmd->add_option("--ema", c.ema,
                        "Report and save a moving average of the weights with this decay, e.g. 0.999 (0: off)")
            ->group(aug_group));

  for (CLI::Option* opt : add_batching_options(cmd, c, run_group)) fixed(opt);
  fixed(cmd->add_option("--seed", c.seed, "Seed for initialisation and shuffling")
            ->capture_default_str()
            ->group(run_group));
  add_run_flags(cmd, *args, run_group);
  return {cmd, [args] { return run_train(*args); }};
}

}  // namespace mnist::cli
