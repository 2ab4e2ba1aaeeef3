// mnist eval: a saved model's accuracy and loss on the test data.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "train/evaluate.h"
#include "train/trainer.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct EvalArgs {
  std::string model, data;
  int threads = 0;
  bool json = false, confusion = false;
};

int run_eval(const EvalArgs& args) {
  SavedModel saved = load_model(args.model);
  const DataSplits data = load_data_for(args.data, saved.scaling, Splits::TestOnly);
  require_input_shape(saved.network, data.test, args.model, args.data);
  ThreadPool pool(resolve_threads(args.threads));
  const EvalResult r = evaluate(saved.network, data.test, data.scaling, pool);
  const int classes = saved.network.classes();
  // Standard error of an accuracy measured on n samples: sqrt(p (1 - p) / n).
  const double stderr_acc = std::sqrt(r.accuracy() * (1 - r.accuracy()) / r.samples);
  if (args.json) {
    nlohmann::json out = {{"accuracy", r.accuracy()}, {"accuracy_stderr", stderr_acc},
                          {"loss", r.loss},           {"samples", r.samples},
                          {"correct", r.correct}};
    if (args.confusion) {
      auto rows = nlohmann::json::array();
      for (int t = 0; t < classes; ++t) {
        rows.push_back(std::vector<int>(r.confusion.begin() + t * classes,
                                        r.confusion.begin() + (t + 1) * classes));
      }
      out["confusion"] = rows;
    }
    fmt::print("{}\n", out.dump());
    return 0;
  }
  fmt::print("test accuracy: {:.2f}% ± {:.2f}% ({}/{}), mean loss: {:.4f}\n", 100 * r.accuracy(),
             100 * stderr_acc, r.correct, r.samples, r.loss);
  if (args.confusion) {
    fmt::print("\nconfusion matrix (rows: true digit, columns: predicted)\n     ");
    for (int p = 0; p < classes; ++p) fmt::print("{:>6}", p);
    fmt::print("\n");
    for (int t = 0; t < classes; ++t) {
      fmt::print("{:>5}", t);
      for (int p = 0; p < classes; ++p) fmt::print("{:>6}", r.confusion[static_cast<size_t>(t) * classes + p]);
      fmt::print("\n");
    }
  }
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Test accuracy and mean loss of a saved model");
  cmd->footer("Examples:\n  mnist eval mnist.safetensors\n  mnist eval mnist.safetensors --json --confusion");
  cmd->add_option("MODEL", args->model, "Checkpoint (safetensors) written by mnist train")->required();
  add_data_option(cmd, args->data);
  add_threads_option(cmd, args->threads);
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--confusion", args->confusion, "Also print the confusion matrix");
  return {cmd, [args] { return run_eval(*args); }};
}

}  // namespace mnist::cli
