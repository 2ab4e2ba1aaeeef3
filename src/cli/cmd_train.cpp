// mnist train: the course's training run, and every variation of it.
#include <fmt/format.h>

#include "cli/common.h"
#include "io/checkpoint.h"
#include "io/file.h"
#include "nn/models.h"
#include "train/trainer.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct TrainArgs {
  std::string data;
  TrainConfig config;
  std::string save = "mnist.safetensors";
  CLI::Option* lr = nullptr;
  CLI::Option* momentum = nullptr;
};

// Redraws one status line at the bottom of a terminal.
class ProgressBar {
 public:
  void draw(const StepEvent& e, int epochs) {
    constexpr int kWidth = 24;
    const int filled = (e.batch + 1) * kWidth / e.batches;
    const double done = static_cast<double>(e.epoch * e.batches + e.batch + 1) / (epochs * e.batches);
    const double left = e.seconds / done * (1 - done);
    fmt::print("\r\033[Kepoch {}/{} [{:=<{}}{: <{}}] {}/{} loss {:.4f} eta {:.0f}s", e.epoch + 1,
               epochs, "", filled, "", kWidth - filled, e.batch + 1, e.batches, e.loss, left);
    std::fflush(stdout);
  }
  void clear() { fmt::print("\r\033[K"); }
};

int run_train(TrainArgs& args) {
  TrainConfig& config = args.config;
  if (config.optimizer.name == "momentum" && args.momentum->count() == 0) config.optimizer.momentum = 0.9;
  config.validate();
  check_writable(args.save);
  if (file_exists(args.data)) fmt::print("loading mnist dataset from {} ......\n", args.data);
  DataSplits data = load_data(args.data);
  const Shape input{1, data.train.rows, data.train.cols};
  Network<float> network = make_network<float>(config.model, input, kNumClasses);
  network.init(config.seed);
  auto optimizer = make_optimizer(config.optimizer, network.tensors());
  ThreadPool pool(resolve_threads(config.threads));
  Trainer trainer(network, *optimizer, data, config, pool);

  const bool terminal = stdout_is_terminal();
  ProgressBar bar;
  TrainCallbacks callbacks;
  callbacks.on_step = [&](const StepEvent& e) {
    if (terminal) bar.clear();
    fmt::print("epoch: {}, batch: {}, loss is: {}\n", e.epoch, e.batch, static_cast<float>(e.loss));
    std::fflush(stdout);
  };
  if (terminal) callbacks.on_batch = [&](const StepEvent& e) { bar.draw(e, config.epochs); };
  callbacks.on_epoch = [&](const EpochEvent& e) {
    if (terminal) bar.clear();
    fmt::print("epoch: {} done, train loss: {:.4f}, {} accuracy: {:.2f}%, {:.0f} images/s, {:.1f} s\n",
               e.epoch, e.train_loss, e.eval_split, 100 * e.eval.accuracy(), e.images_per_second,
               e.seconds);
    std::fflush(stdout);
  };
  trainer.run(callbacks);

  const EvalResult test = evaluate(network, data.test, data.scaling, pool);
  fmt::print("test accuracy: {:.2f}% ({}/{}), loss: {:.4f}\n", 100 * test.accuracy(), test.correct,
             test.samples, test.loss);
  save_checkpoint(args.save, network, data.scaling, config.to_json(), optimizer.get());
  fmt::print("model saved to {}\n", args.save);
  return 0;
}

}  // namespace

Command add_train(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  TrainConfig& c = args->config;
  auto* cmd = app.add_subcommand("train", "Train a model (defaults: the course's CNN, SGD, lr 0.01, "
                                          "batch 100, 5 epochs)");
  cmd->footer("Examples:\n  mnist train\n  mnist train --lr 0.1 --save fast.safetensors\n"
              "  mnist train --model mlp --optimizer momentum --epochs 2");
  add_data_option(cmd, args->data);
  cmd->add_option("--model", c.model, "cnn (the course network), mlp or linear")
      ->capture_default_str()
      ->check(CLI::IsMember({"cnn", "mlp", "linear"}));
  cmd->add_option("--optimizer", c.optimizer.name, "sgd or momentum (SGD with momentum 0.9)")
      ->capture_default_str();
  args->lr = cmd->add_option("--lr", c.optimizer.lr, "Learning rate")->capture_default_str();
  args->momentum = cmd->add_option("--momentum", c.optimizer.momentum,
                                   "SGD momentum (default 0 for sgd, 0.9 for momentum)");
  cmd->add_option("--dampening", c.optimizer.dampening, "SGD momentum dampening")->capture_default_str();
  cmd->add_flag("--nesterov", c.optimizer.nesterov, "Nesterov momentum");
  cmd->add_option("--weight-decay", c.optimizer.weight_decay, "L2 penalty added to the gradient")
      ->capture_default_str();
  cmd->add_option("--epochs", c.epochs, "Passes over the training data")->capture_default_str();
  cmd->add_option("--batch-size", c.batch_size, "Samples per optimizer step")->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed for initialisation and shuffling")->capture_default_str();
  add_threads_option(cmd, c.threads);
  cmd->add_option("--log-every", c.log_every, "Print the loss every N batches")->capture_default_str();
  cmd->add_option("--save", args->save, "Checkpoint to write (safetensors)")->capture_default_str();
  return {cmd, [args] { return run_train(*args); }};
}

}  // namespace mnist::cli
