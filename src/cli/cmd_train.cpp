// mnist train: the course's training run, and every variation of it.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>

#include "cli/common.h"
#include "io/checkpoint.h"
#include "io/file.h"
#include "nn/models.h"
#include "train/metrics.h"
#include "train/resume.h"
#include "train/trainer.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct TrainArgs {
  TrainConfig config;
  std::string save = "mnist.safetensors", resume;
  int threads = 0;
  int64_t stop_after = 0;                     // --steps
  std::vector<CLI::Option*> fixed_on_resume;  // flags that would change a resumed run's arithmetic
  CLI::Option *save_opt, *data_opt, *log_opt, *checkpoint_opt, *metrics_opt;
};

// Redraws one status line at the bottom of a terminal.
class ProgressBar {
 public:
  void draw(const StepEvent& e, int epochs, int64_t first_step, double first_seconds) {
    constexpr int kWidth = 24;
    const int filled = (e.batch + 1) * kWidth / e.batches;
    const double total = static_cast<double>(epochs) * e.batches;
    const double done = static_cast<double>(e.step + 1 - first_step);
    const double left = (e.seconds - first_seconds) / done * (total - e.step - 1);
    fmt::print(
        "\r\033[Kepoch {}/{} [{:=<{}}{: <{}}] {}/{} loss {:.4f} lr "
        "{:.3g} eta {:.0f}s",
        e.epoch + 1, epochs, "", filled, "", kWidth - filled, e.batch + 1, e.batches, e.loss, e.lr, left);
    std::fflush(stdout);
  }
  void clear() { fmt::print("\r\033[K"); }
};

// What a run starts from: a new configuration, or a checkpoint to resume.
struct RunStart {
  TrainConfig config;
  TrainState state;
  Schedule::PlateauState plateau;
  std::optional<SavedModel> resumed;
};

RunStart plan_run(TrainArgs& args) {
  RunStart start;
  TrainConfig& config = start.config;
  if (!args.resume.empty()) {
    for (const CLI::Option* opt : args.fixed_on_resume) {
      if (opt->count() > 0) {
        throw UsageError(
            fmt::format("{}: cannot be changed when resuming; the "
                        "run continues as it was configured",
                        opt->get_name()));
      }
    }
    start.resumed = load_model(args.resume);
    ResumePoint point = read_resume_point(*start.resumed);
    config = point.config;
    start.state = point.state;
    start.plateau = point.plateau;
    if (args.data_opt->count()) config.data = args.config.data;
    if (args.log_opt->count()) config.log_every = args.config.log_every;
    if (args.checkpoint_opt->count()) config.checkpoint_every = args.config.checkpoint_every;
    if (args.metrics_opt->count()) config.metrics = args.config.metrics;
    if (!args.save_opt->count()) args.save = args.resume;
  } else {
    config = args.config;
  }
  config = config.resolved();
  check_writable(args.save);
  if (args.stop_after < 0) throw UsageError(fmt::format("--steps: must be >= 0, got {}", args.stop_after));
  return start;
}

// The starting weights: the resumed checkpoint's, --init's, or new ones
// from the seed. Weights from a file must fit the data.
Network<float> starting_network(RunStart& start, const DataSplits& data, const std::string& resume_path) {
  const TrainConfig& config = start.config;
  if (start.resumed) {
    require_input_shape(start.resumed->network, data.train, resume_path, config.data);
    return std::move(start.resumed->network);
  }
  if (!config.init.empty()) {
    SavedModel init = load_model(config.init);
    if (init.network.model() != config.model) {
      throw Error(
          fmt::format("{}: holds a {} model, but --model is {}", config.init, init.network.model(), config.model));
    }
    require_input_shape(init.network, data.train, config.init, config.data);
    return std::move(init.network);
  }
  return new_network(config.model, config.seed, data, config.data);
}

int run_train(TrainArgs& args) {
  RunStart start = plan_run(args);
  const TrainConfig& config = start.config;
  const TrainState& state = start.state;
  const bool resumed = start.resumed.has_value();

  if (file_exists(config.data)) fmt::print("loading mnist dataset from {} ......\n", config.data);
  const DataSplits data = load_data(config.data);
  Network<float> network = starting_network(start, data, args.resume);

  auto optimizer = make_optimizer(config.optimizer, network.tensors());
  if (resumed) restore_optimizer(*start.resumed, *optimizer);
  const int batches = batches_per_epoch(data.train.count, config.batch_size);
  if (resumed && (state.epoch > config.epochs || state.batch > batches ||
                  state.step > static_cast<int64_t>(config.epochs) * batches)) {
    throw Error(
        fmt::format("{}: the saved position (epoch {}, batch {}, step "
                    "{}) does not fit the run ({} epochs of {} "
                    "batches)",
                    args.resume, state.epoch, state.batch, state.step, config.epochs, batches));
  }
  // A stop point at or before the current step would still train one step.
  if (args.stop_after > 0 && args.stop_after <= state.step) {
    throw UsageError(fmt::format("--steps: the run is already at step {}; give a later stop point", state.step));
  }
  Schedule schedule(config.schedule, *config.optimizer.lr, batches, static_cast<int64_t>(config.epochs) * batches);
  if (resumed) schedule.set_plateau(start.plateau);
  ThreadPool pool(resolve_threads(args.threads));
  Trainer trainer(network, *optimizer, data, config, pool);
  trainer.state() = state;
  std::optional<MetricsLog> metrics;
  if (!config.metrics.empty()) metrics.emplace(config.metrics, state);

  auto save = [&] {
    // Never write weights that are not finite over a good checkpoint.
    for (float v : network.params()) {
      if (!std::isfinite(v)) {
        throw Diverged(fmt::format("training diverged by step {}: the weights are not finite", trainer.state().step),
                       trainer.state().step, NAN);
      }
    }
    save_checkpoint(args.save, network, data.scaling, training_metadata(config, trainer.state(), schedule),
                    optimizer.get());
  };
  if (resumed) {
    fmt::print("resuming {} at epoch {}, batch {} (step {})\n", args.resume, state.epoch, state.batch, state.step);
  }
  const bool terminal = stdout_is_terminal();
  const int64_t first_step = state.step;
  const double first_seconds = state.seconds;
  ProgressBar bar;
  TrainCallbacks callbacks;
  callbacks.on_step = [&](const StepEvent& e) {
    if (terminal) bar.clear();
    fmt::print("epoch: {}, batch: {}, loss is: {}\n", e.epoch, e.batch, static_cast<float>(e.loss));
    std::fflush(stdout);
    if (metrics) metrics->step(e);
  };
  callbacks.on_batch = [&](const StepEvent& e) {
    if (terminal) bar.draw(e, config.epochs, first_step, first_seconds);
    if (config.checkpoint_every > 0 && (e.step + 1) % config.checkpoint_every == 0) save();
  };
  callbacks.on_epoch = [&](const EpochEvent& e) {
    if (terminal) bar.clear();
    fmt::print(
        "epoch: {} done, lr: {:.6g}, train loss: {:.4f}, {} accuracy: "
        "{:.2f}%, {:.0f} images/s, {:.1f} s\n",
        e.epoch, e.lr, e.train_loss, e.eval_split, 100 * e.eval.accuracy(), e.images_per_second, e.seconds);
    std::fflush(stdout);
    if (metrics) metrics->epoch(e);
    if (config.checkpoint_every > 0) save();
  };
  callbacks.should_stop = [&] {
    return stop_signal() != 0 || (args.stop_after > 0 && trainer.state().step >= args.stop_after);
  };
  catch_stop_signals();
  bool finished = false;
  try {
    finished = state.epoch >= config.epochs || trainer.run(schedule, callbacks);
  } catch (const Diverged& e) {
    if (terminal) bar.clear();
    if (metrics) metrics->diverged(e.step, e.loss, trainer.state().seconds);
    const bool kept = file_exists(args.save);
    throw Error(
        fmt::format("{}. The learning rate {:g} is probably too large for {}: try a "
                    "smaller --lr{}{}",
                    e.what(), *config.optimizer.lr, config.optimizer.name, config.clip_norm ? "" : " or --clip-norm 1",
                    kept ? fmt::format("; the last good checkpoint {} is untouched", args.save) : ""));
  }
  if (!finished) {
    if (terminal) bar.clear();
    save();
    const TrainState& s = trainer.state();
    fmt::print(
        "{} after step {} (epoch {}, batch {}); saved to {}\ncontinue "
        "with: mnist train --resume {}\n",
        stop_signal() ? "interrupted" : "stopped", s.step, s.epoch, s.batch, args.save, args.save);
    return stop_signal() ? 128 + stop_signal() : 0;
  }
  const EvalResult test = trainer.test_result();
  fmt::print("test accuracy: {:.2f}% ({}/{}), loss: {:.4f}\n", 100 * test.accuracy(), test.correct, test.samples,
             test.loss);
  if (metrics) metrics->final(test, trainer.state().step, trainer.state().seconds);
  save();
  fmt::print("model saved to {}\n", args.save);
  return 0;
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
      "mnist train --resume run.safetensors)");
  auto fixed = [&](CLI::Option* opt) {
    args->fixed_on_resume.push_back(opt);
    return opt;
  };
  const std::string data_group = "Data and model", opt_group = "Optimizer", sched_group = "Learning-rate schedule",
                    run_group = "Run, checkpoints and logs";
  args->data_opt = add_data_option(cmd, c.data)->group(data_group);
  fixed(add_model_option(cmd, c.model)->group(data_group));
  fixed(cmd->add_option("--init", c.init,
                        "Start from the weights in this safetensors file "
                        "instead of random ones")
            ->group(data_group));

  for (CLI::Option* opt : add_optimizer_options(cmd, o, opt_group, /*with_lr=*/true)) fixed(opt);
  fixed(add_optional(cmd, "--clip-norm", c.clip_norm, "Clip the gradient's global L2 norm to this")->group(opt_group));
  for (CLI::Option* opt : add_schedule_options(cmd, s, sched_group)) fixed(opt);

  fixed(
      cmd->add_option("--epochs", c.epochs, "Passes over the training data")->capture_default_str()->group(run_group));
  fixed(cmd->add_option("--batch-size", c.batch_size, "Samples per optimizer step")
            ->capture_default_str()
            ->group(run_group));
  fixed(cmd->add_option("--seed", c.seed, "Seed for initialisation and shuffling")
            ->capture_default_str()
            ->group(run_group));
  fixed(cmd->add_flag_callback(
               "--no-shuffle", [&c] { c.shuffle = false; }, "Feed batches in file order")
            ->group(run_group));
  add_threads_option(cmd, args->threads)->group(run_group);
  args->log_opt = cmd->add_option("--log-every", c.log_every, "Print the loss every N batches")
                      ->capture_default_str()
                      ->group(run_group);
  args->save_opt =
      cmd->add_option("--save", args->save, "Checkpoint to write (safetensors); with --resume, the same file")
          ->capture_default_str()
          ->group(run_group);
  cmd->add_option("--resume", args->resume, "Continue the run saved in this checkpoint, as it was configured")
      ->group(run_group);
  cmd->add_option("--steps", args->stop_after, "Stop (and save) after this many optimizer steps in all")
      ->group(run_group);
  args->checkpoint_opt = cmd->add_option("--checkpoint-every", c.checkpoint_every,
                                         "Write --save every N steps and at every epoch end (0: "
                                         "at the end only)")
                             ->group(run_group);
  args->metrics_opt =
      cmd->add_option("--metrics", c.metrics, "Write one JSON line per logged step and per epoch")->group(run_group);
  return {cmd, [args] { return run_train(*args); }};
}

}  // namespace mnist::cli
