// mnist predict: the digit in a user's own image.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "io/file.h"
#include "train/predict.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct PredictArgs {
  std::string model;
  std::vector<std::string> images;
  bool json = false, show = false;
  int top_k = 0;
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// `mnist predict digit.png model.safetensors`: say so, not "not a safetensors file".
void check_order(const PredictArgs& args) {
  const auto checkpoint = std::find_if(args.images.begin(), args.images.end(),
                                       [](const std::string& f) { return ends_with(f, ".safetensors"); });
  if (checkpoint != args.images.end() && !ends_with(args.model, ".safetensors")) {
    throw UsageError(fmt::format("MODEL comes first: mnist predict MODEL IMAGE...; got '{}' where the model goes "
                                 "and the checkpoint '{}' among the images",
                                 args.model, *checkpoint));
  }
}

nlohmann::json result_json(const std::string& file, const Prediction& p, const PredictArgs& args) {
  nlohmann::json j = {{"file", file}, {"digit", p.digit}, {"probabilities", p.probabilities}};
  if (args.top_k > 0) {
    auto top = nlohmann::json::array();
    for (const auto& [digit, probability] : top_k(p.probabilities, args.top_k)) {
      top.push_back({{"digit", digit}, {"probability", probability}});
    }
    j["top_k"] = top;
  }
  if (args.show) j["input_text"] = input_as_text(p);
  return j;
}

void print_result(const std::string& file, const Prediction& p, const PredictArgs& args) {
  if (args.show) {
    for (const std::string& row : input_as_text(p)) fmt::print("  |{}|\n", row);
  }
  if (args.top_k > 0) {
    std::string others;
    for (const auto& [digit, probability] : top_k(p.probabilities, args.top_k)) {
      others += fmt::format("{}{} ({:.3f})", others.empty() ? "" : ", ", digit, probability);
    }
    fmt::print("{}: {} (p = {:.3f}); most likely: {}\n", file, p.digit, p.probabilities[p.digit], others);
    return;
  }
  std::string table;
  for (size_t d = 0; d < p.probabilities.size(); ++d) table += fmt::format(" {}:{:.3f}", d, p.probabilities[d]);
  fmt::print("{}: {} (p = {:.3f}) |{}\n", file, p.digit, p.probabilities[p.digit], table);
}

// Each image on its own: one that cannot be read is reported (on stderr, and
// in the JSON as {"file", "error"}) and the others still predicted; the exit
// code is then 1.
int run_predict(const PredictArgs& args) {
  check_order(args);
  if (args.top_k < 0) throw UsageError(fmt::format("--top-k: must be 0 or more, got {}", args.top_k));
  const SavedModel saved = load_model(args.model);
  ImageClassifier classifier(saved, args.model);
  auto results = nlohmann::json::array();
  int failed = 0;
  for (const auto& path : args.images) {
    try {
      const Prediction p = classifier.classify(read_image(path), path);
      if (args.json) {
        results.push_back(result_json(path, p, args));
      } else {
        print_result(path, p, args);
      }
    } catch (const Error& e) {
      ++failed;
      fmt::print(stderr, "mnist: {}\n", e.what());
      if (args.json) results.push_back({{"file", path}, {"error", e.what()}});
    }
  }
  if (args.json) fmt::print("{}\n", results.dump());
  std::fflush(stdout);
  return failed > 0 ? 1 : 0;
}

}  // namespace

Command add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Recognise the digit in your own PNG, JPEG or BMP images");
  cmd->footer("Any size, dark ink on light paper or light on dark, photos too (docs/formats.md says how they\n"
              "are prepared). Examples:\n"
              "  mnist predict mnist.safetensors my-digit.png\n"
              "  mnist predict mnist.safetensors *.jpg --json --top-k 3");
  cmd->add_option("MODEL", args->model, "Checkpoint (safetensors) written by mnist train")->required();
  cmd->add_option("IMAGE", args->images, "Image files of one digit each")->required();
  cmd->add_flag("--json", args->json, "Print a JSON list of {file, digit, probabilities} (and top_k, input_text)");
  cmd->add_flag("--show", args->show, "Draw the preprocessed input as text (with --json: as input_text)");
  cmd->add_option("--top-k", args->top_k, "Also list the K most likely digits")->type_name("K");
  return {cmd, [args] { return run_predict(*args); }};
}

}  // namespace mnist::cli
