#include "cli/common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include "nn/models.h"
#include "util/error.h"

namespace mnist::cli {

std::string default_data_path() {
  const char* env = std::getenv("MNIST_DATA");
  return env && *env ? env : "data/mnist";
}

CLI::Option* add_data_option(CLI::App* cmd, std::string& path) {
  path = default_data_path();
  return cmd
      ->add_option("--data", path,
                   "Folder of IDX files (train-images-idx3-ubyte, ... raw or "
                   ".gz) or a course "
                   "mnist.json.gz; $MNIST_DATA overrides the default")
      ->capture_default_str();
}

CLI::Option* add_model_option(CLI::App* cmd, std::string& model) {
  return cmd->add_option("--model", model, "cnn (the course network), mlp or linear")
      ->capture_default_str()
      ->check(CLI::IsMember(model_names()));
}

CLI::Option* add_threads_option(CLI::App* cmd, int& threads) {
  return cmd->add_option("--threads", threads, "Worker threads; 0 uses every core")
      ->capture_default_str()
      ->check(CLI::Range(0, 256));
}

DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling, Splits which) {
  DataSplits data = load_data(path, which);
  if (!data.test.values.empty() && !(data.scaling == model_scaling)) {
    // Back to the pixel in the data's scaling, then into the model's.
    for (ImageSet* set : {&data.train, &data.valid, &data.test}) {
      for (float& v : set->values) v = model_scaling.apply(data.scaling.pixel_of(v));
    }
  }
  data.scaling = model_scaling;
  return data;
}

void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data) {
  const Shape got = network.input_shape(), want{1, images.rows, images.cols};
  if (!(got == want)) {
    throw Error(fmt::format("{}: the model takes {}x{} images, {} has {}x{}", model, got.height, got.width, data,
                            want.height, want.width));
  }
}

std::vector<CLI::Option*> add_optimizer_options(CLI::App* cmd, OptimizerConfig& o, const std::string& group,
                                                bool with_name_and_lr) {
  std::vector<CLI::Option*> options;
  auto add = [&](CLI::Option* opt) { options.push_back(opt->group(group)); };
  if (with_name_and_lr) {
    add(cmd->add_option("--optimizer", o.name, "sgd, momentum, adagrad, rmsprop, adadelta, adam or adamw")
            ->capture_default_str());
    add(add_optional(cmd, "--lr", o.lr,
                     "Learning rate (default 0.01 for sgd, momentum, adagrad, "
                     "rmsprop; 1.0 adadelta; 0.001 adam, adamw)"));
  }
  add(add_optional(cmd, "--momentum", o.momentum, "Momentum of sgd (0), momentum (0.9) and rmsprop (0)"));
  add(add_optional(cmd, "--dampening", o.dampening, "SGD momentum dampening (0)"));
  add(cmd->add_flag("--nesterov", o.nesterov, "Nesterov momentum (sgd, momentum)"));
  add(add_optional(cmd, "--weight-decay", o.weight_decay,
                   "Weight decay: L2 added to the gradient (0), decoupled for "
                   "adamw (0.01)"));
  add(cmd->add_flag_callback(
      "--no-decay-bias", [&o] { o.decay_biases = false; }, "Exempt biases from weight decay"));
  add(add_optional(cmd, "--lr-decay", o.lr_decay, "AdaGrad learning-rate decay (0)"));
  add(add_optional(cmd, "--initial-accumulator", o.initial_accumulator, "AdaGrad's starting sum (0)"));
  add(add_optional(cmd, "--alpha", o.alpha, "RMSProp smoothing constant (0.99)"));
  add(cmd->add_flag("--centered", o.centered, "Centered RMSProp"));
  add(add_optional(cmd, "--rho", o.rho, "Adadelta smoothing constant (0.9)"));
  add(add_optional(cmd, "--beta1", o.beta1, "Adam/AdamW first-moment decay (0.9)"));
  add(add_optional(cmd, "--beta2", o.beta2, "Adam/AdamW second-moment decay (0.999)"));
  add(cmd->add_flag("--amsgrad", o.amsgrad, "AMSGrad variant of adam/adamw"));
  add(add_optional(cmd, "--eps", o.eps, "Denominator epsilon (adagrad 1e-10, adadelta 1e-6, others 1e-8)"));
  return options;
}

std::vector<CLI::Option*> add_schedule_options(CLI::App* cmd, ScheduleConfig& s, const std::string& group) {
  std::vector<CLI::Option*> options;
  auto add = [&](CLI::Option* opt) { options.push_back(opt->group(group)); };
  add(cmd->add_option("--schedule", s.name,
                      "constant, step, multistep, exponential, cosine, poly, "
                      "onecycle or plateau")
          ->capture_default_str());
  add(add_optional(cmd, "--gamma", s.gamma,
                   "Decay factor (step, multistep, plateau 0.1; exponential "
                   "0.9 per epoch)"));
  add(add_optional(cmd, "--step-size", s.step_size, "step: epochs between decays (1)"));
  add(cmd->add_option("--milestones", s.milestones, "multistep: epochs at which to decay, e.g. 2,4")->delimiter(','));
  add(add_optional(cmd, "--min-lr", s.min_lr, "cosine and plateau: lowest learning rate (0)"));
  add(add_optional(cmd, "--end-lr", s.end_lr, "poly: final learning rate (lr/10, the course's 0.01 -> 0.001)"));
  add(add_optional(cmd, "--power", s.power, "poly: exponent (1)"));
  add(add_optional(cmd, "--pct-start", s.pct_start, "onecycle: share of the run spent rising (0.3)"));
  add(add_optional(cmd, "--div-factor", s.div_factor, "onecycle: starting lr = lr / this (25)"));
  add(add_optional(cmd, "--final-div-factor", s.final_div_factor, "onecycle: final lr = starting lr / this (1e4)"));
  add(add_optional(cmd, "--patience", s.patience, "plateau: epochs without improvement before decaying (10)"));
  add(add_optional(cmd, "--threshold", s.threshold, "plateau: relative improvement that counts (1e-4)"));
  add(cmd->add_option("--warmup-steps", s.warmup_steps, "Linear warm-up over this many steps, with any schedule")
          ->capture_default_str());
  return options;
}

Network<float> new_network(const std::string& model, uint64_t seed, const DataSplits& data,
                           const std::string& data_path) {
  try {
    Network<float> network = make_network<float>(model, {1, data.train.rows, data.train.cols}, kNumClasses);
    network.init(seed);
    return network;
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}x{} images do not fit the {} model ({})", data_path, data.train.rows,
                            data.train.cols, model, e.what()));
  }
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) std::_Exit(128 + sig);
  g_stop_signal = sig;
}
}  // namespace

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_signal() { return g_stop_signal; }

}  // namespace mnist::cli
