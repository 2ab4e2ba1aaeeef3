// mnist lr-find: the learning-rate range test, its suggestion and its plot.
#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "experiments/charts.h"
#include "experiments/lr_find.h"
#include "checkpoint/checkpoint.h"
#include "train/run.h"
#include "io/file.h"
#include "nn/models.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct LrFindArgs {
  LrFindConfig config;
  OptimizerConfig optimizer;
  std::string data = default_data_path(), model = "cnn", init, out = "lr-find";
  bool json = false;
  int threads = 0;
  CLI::Option* model_opt = nullptr;
};

void print_result(const LrFindArgs& args, const LrFindResult& result, const std::string& optimizer,
                  const std::string& model, const std::string& stem) {
  if (args.json) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : result.points) points.push_back({{"lr", p.lr}, {"loss", p.loss}, {"smoothed", p.smoothed}});
    const nlohmann::json j = {{"suggested_lr", result.suggested_lr},
                              {"min_loss_lr_div10", result.min_loss_lr_div10},
                              {"stop_reason", result.stop_reason},
                              {"warning", result.warning},
                              {"optimizer", optimizer},
                              {"model", model},
                              {"plots", {stem + ".png", stem + ".svg"}},
                              {"points", points}};
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("lr-find: {} steps from lr {:g} to {:g}; stopped: {}\n", result.points.size(), args.config.start_lr,
             args.config.end_lr, result.stop_reason);
  fmt::print("suggested lr: {:.3g}  (steepest fall of the smoothed loss)\n", result.suggested_lr);
  fmt::print("min-loss lr / 10: {:.3g}  (the other common rule: the lr of the lowest loss, divided by 10)\n",
             result.min_loss_lr_div10);
  if (!result.warning.empty()) fmt::print("warning: {}\n", result.warning);
  fmt::print("plot: {}.png, {}.svg\n", stem, stem);
  std::string next = "mnist train";
  if (args.data != default_data_path()) next += " --data " + args.data;
  if (!args.init.empty()) next += " --init " + args.init;
  if (model != "cnn" || !args.init.empty()) next += " --model " + model;
  if (args.config.batch_size != TrainConfig{}.batch_size) next += fmt::format(" --batch-size {}", args.config.batch_size);
  fmt::print("next: {} --optimizer {}{} --lr {:.3g}\n", next, optimizer, hyper_flags_text(args.optimizer),
             result.suggested_lr);
}

// --init's weights (which must fit the data) or new ones from --seed.
Network<float> starting_weights(const LrFindArgs& args, std::optional<SavedModel>& init, const DataSplits& data) {
  if (!init) return new_network(args.model, args.config.seed, data, args.data);
  require_input_shape(init->network, data.train, args.init, args.data);
  return std::move(init->network);
}

int run_lr_find(LrFindArgs& args) {
  args.config.check();
  if (args.out.empty()) throw UsageError("--out: must name a folder");
  if (!args.init.empty() && args.model_opt->count() > 0) {
    throw UsageError("--model: not with --init, whose file says which model it holds");
  }
  plot::require_drivers();
  OptimizerConfig optimizer = args.optimizer;
  optimizer.lr = args.config.start_lr;
  optimizer = optimizer.resolved();
  make_out_folder(args.out);
  const std::filesystem::path stem = std::filesystem::path(args.out) / "lr_find";
  check_output(stem.string() + ".png");
  check_output(stem.string() + ".svg");

  std::optional<SavedModel> init;
  if (!args.init.empty()) init = load_model(args.init);
  const DataSplits data = init ? load_data_for(args.data, init->scaling) : load_data(args.data);
  const Network<float> network = starting_weights(args, init, data);
  const LrFindResult result = lr_find(network, optimizer, data, args.config, args.threads);
  const std::string subtitle = fmt::format("{} on {}, {}, batch {}", optimizer.name, network.model(),
                                           args.init.empty() ? "new weights" : args.init, args.config.batch_size);
  plot::save(lr_find_figure(result, subtitle), stem.string());

  print_result(args, result, optimizer.name, network.model(), stem.string());
  return 0;
}

}  // namespace

Command add_lr_find(CLI::App& app) {
  auto args = std::make_shared<LrFindArgs>();
  LrFindConfig& c = args->config;
  auto* cmd = app.add_subcommand("lr-find",
                                 "Find a learning rate: loss over an "
                                 "exponential lr ramp, and a suggestion");
  cmd->footer(
      "Examples:\n"
      "  mnist lr-find\n"
      "  mnist lr-find --optimizer adam --json\n"
      "  mnist lr-find --init mnist.safetensors --optimizer momentum "
      "--out lr-find-momentum\n"
      "The model (new weights from --seed, or --init's) is trained on "
      "a copy; nothing is saved but the plot.");
  const std::string group = "Range test", opt_group = "Optimizer", data_group = "Data and model";
  add_data_option(cmd, args->data)->group(data_group);
  args->model_opt = add_model_option(cmd, args->model)->group(data_group);
  cmd->add_option("--init", args->init, "Test from the weights in this safetensors file (left untouched)")
      ->group(data_group);
  add_optimizer_name_option(cmd, args->optimizer.name)->group(opt_group);
  add_optimizer_options(cmd, args->optimizer, opt_group,
                        /*with_name_and_lr=*/false);
  cmd->add_option("--start-lr", c.start_lr, "First learning rate")->capture_default_str()->group(group);
  cmd->add_option("--end-lr", c.end_lr, "Last learning rate")->capture_default_str()->group(group);
  cmd->add_option("--steps", c.steps, "Steps of the ramp (it stops early when the loss blows up)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--batch-size", c.batch_size, "Samples per step")->capture_default_str()->group(group);
  cmd->add_option("--seed", c.seed, "Seed for the new weights and the batch order")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--out", args->out, "Folder for lr_find.png and lr_find.svg")->capture_default_str()->group(group);
  cmd->add_flag("--json", args->json, "Print the result as one JSON object")->group(group);
  add_threads_option(cmd, args->threads)->group(group);
  return {cmd, [args] { return run_lr_find(*args); }};
}

}  // namespace mnist::cli
