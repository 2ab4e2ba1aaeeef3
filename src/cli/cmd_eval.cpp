// mnist eval: a saved model's accuracy and loss on the test data.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "experiments/charts.h"
#include "io/file.h"
#include "train/evaluate.h"
#include "train/run.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct EvalArgs {
  std::string model, data, mistakes, logits;
  int threads = 0;
  bool json = false, confusion = false, any_data = false;
};

// Standard error of an accuracy measured on n samples: sqrt(p (1 - p) / n).
double accuracy_stderr(const EvalResult& r) { return std::sqrt(r.accuracy() * (1 - r.accuracy()) / r.samples); }

nlohmann::json result_json(const EvalArgs& args, const std::string& data, const EvalResult& r, int classes) {
  nlohmann::json out = {{"accuracy", r.accuracy()}, {"accuracy_stderr", accuracy_stderr(r)}, {"loss", r.loss},
                        {"samples", r.samples},     {"correct", r.correct},                 {"data", data}};
  auto per_class = nlohmann::json::array();
  for (const ClassMetrics& c : class_metrics(r, classes)) {
    per_class.push_back({{"label", c.label}, {"support", c.support},
                         {"precision", std::isnan(c.precision) ? nlohmann::json() : nlohmann::json(c.precision)},
                         {"recall", std::isnan(c.recall) ? nlohmann::json() : nlohmann::json(c.recall)}});
  }
  out["classes"] = per_class;
  if (args.confusion) {
    auto rows = nlohmann::json::array();
    for (int t = 0; t < classes; ++t) {
      rows.push_back(std::vector<int>(r.confusion.begin() + t * classes, r.confusion.begin() + (t + 1) * classes));
    }
    out["confusion"] = rows;
  }
  return out;
}

void print_text(const EvalArgs& args, const std::string& data, const EvalResult& r, int classes) {
  fmt::print("test accuracy: {:.2f}% ± {:.2f}% ({}/{}) on {}, mean loss: {:.4f}\n", 100 * r.accuracy(),
             100 * accuracy_stderr(r), r.correct, r.samples, data, r.loss);
  fmt::print("\n class  precision  recall  samples\n");
  for (const ClassMetrics& c : class_metrics(r, classes)) {
    fmt::print("{:>6}  {:>8.2f}%  {:>6.2f}%  {:>7}\n", c.label, 100 * c.precision, 100 * c.recall, c.support);
  }
  if (!args.confusion) return;
  fmt::print("\nconfusion matrix (rows: true digit, columns: predicted)\n     ");
  for (int p = 0; p < classes; ++p) fmt::print("{:>6}", p);
  fmt::print("\n");
  for (int t = 0; t < classes; ++t) {
    fmt::print("{:>5}", t);
    for (int p = 0; p < classes; ++p) fmt::print("{:>6}", r.confusion[static_cast<size_t>(t) * classes + p]);
    fmt::print("\n");
  }
}

// --mistakes DIR: mistakes.png (each misclassified digit, "true → predicted")
// and mistakes.csv; --logits FILE: every test image's logits as CSV.
void write_files(const EvalArgs& args, const SavedModel& saved, const DataSplits& data, const EvalResult& r) {
  const int classes = saved.network.classes();
  if (!args.mistakes.empty()) {
    const std::filesystem::path dir(args.mistakes);
    std::string csv = "index,label,predicted,probability\n";
    for (int i = 0; i < data.test.count; ++i) {
      if (r.predicted[i] != data.test.labels[i]) {
        csv += fmt::format("{},{},{},{:.6f}\n", i, data.test.labels[i], r.predicted[i], r.confidence[i]);
      }
    }
    write_output((dir / "mistakes.csv").string(), csv, OutputUse::File);
    plot::save(mistakes_gallery(data.test, data.scaling, r, 2000,
                                fmt::format("{}: the {} test digits it gets wrong (true → predicted)", args.model,
                                            r.samples - r.correct)),
               (dir / "mistakes").string());
  }
  if (!args.logits.empty()) {
    std::string csv;
    for (int i = 0; i < data.test.count; ++i) {
      for (int c = 0; c < classes; ++c) {
        csv += fmt::format("{}{:.9g}", c ? "," : "", r.logits[static_cast<size_t>(i) * classes + c]);
      }
      csv += '\n';
    }
    write_output(args.logits, csv, OutputUse::Stream);
  }
}

int run_eval(const EvalArgs& args) {
  require_one_process("eval");
  if (!args.mistakes.empty()) {
    make_out_folder(args.mistakes, "--mistakes");
    plot::require_drivers();
  }
  if (!args.logits.empty()) check_output(args.logits, OutputUse::Stream);
  SavedModel saved = load_model(args.model);
  const ModelData data = data_for_model(saved, args.data, args.any_data, default_data_path());
  require_input_shape(saved.network, data.data.test, args.model, data.path);
  ThreadPool pool(resolve_threads(args.threads));
  const EvalResult r = evaluate(saved.network, data.data.test, data.data.scaling, pool, !args.logits.empty());
  write_files(args, saved, data.data, r);
  if (args.json) {
    fmt::print("{}\n", result_json(args, data.path, r, saved.network.classes()).dump());
  } else {
    print_text(args, data.path, r, saved.network.classes());
  }
  return 0;
}

}  // namespace

Command add_eval(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "Test accuracy, loss and per-class precision and recall of a saved model");
  cmd->footer(
      "Without --data, the model is tested on the data set it was trained on (its checkpoint\n"
      "records it); another data set is refused unless --any-data. Examples:\n"
      "  mnist eval mnist.safetensors\n"
      "  mnist eval mnist.safetensors --json --confusion\n"
      "  mnist eval mnist.safetensors --mistakes mistakes   (mistakes.png, mistakes.csv)");
  cmd->add_option("MODEL", args->model, "Checkpoint (safetensors) written by mnist train")->required();
  cmd->add_option("--data", args->data,
                  "Test data: a folder of IDX files or a course mnist.json.gz (default: the model's own data set)");
  cmd->add_flag("--any-data", args->any_data, "Evaluate on --data even if it is not the model's data set");
  add_threads_option(cmd, args->threads);
  cmd->add_flag("--json", args->json, "Print one JSON object");
  cmd->add_flag("--confusion", args->confusion, "Also print the confusion matrix");
  cmd->add_option("--mistakes", args->mistakes,
                  "Folder for mistakes.png (the misclassified digits, true → predicted) and mistakes.csv");
  cmd->add_option("--logits", args->logits, "Write every test image's logits as CSV (- for standard output)");
  return {cmd, [args] { return run_eval(*args); }};
}

}  // namespace mnist::cli
