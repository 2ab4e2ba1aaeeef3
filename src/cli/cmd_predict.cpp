// mnist predict: the digit in a user's own image.
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "io/image.h"
#include "train/evaluate.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct PredictArgs {
  std::string model;
  std::vector<std::string> images;
  bool json = false, show = false;
};

// The preprocessed 28x28 input as text, darker characters for more ink.
void print_ascii(const std::vector<float>& pixels, int size) {
  static constexpr const char* kRamp = " .:-=+*#%@";
  for (int y = 0; y < size; ++y) {
    std::string line;
    for (int x = 0; x < size; ++x) {
      const float v = pixels[static_cast<size_t>(y) * size + x];
      line += kRamp[std::clamp(static_cast<int>(v / 256.0f * 10), 0, 9)];
    }
    fmt::print("  |{}|\n", line);
  }
}

int run_predict(const PredictArgs& args) {
  const SavedModel saved = load_model(args.model);
  const Shape shape = saved.network.input_shape();
  if (shape.channels != 1 || shape.height != shape.width) {
    throw Error(fmt::format("{}: predict needs a model for square grey images", args.model));
  }
  const int size = shape.height;
  // MNIST fits digits into 20x20 of 28x28; keep that proportion.
  const int box = std::max(1, (size * 20 + 14) / 28);
  auto results = nlohmann::json::array();
  Predictor predict(saved.network);
  for (const auto& path : args.images) {
    std::vector<float> pixels = preprocess_digit(read_image(path), path, size, box);
    if (args.show) print_ascii(pixels, size);
    std::vector<float> input(pixels.size());
    for (size_t i = 0; i < pixels.size(); ++i) input[i] = saved.scaling.apply(pixels[i]);
    const std::span<const float> probs = predict(input.data());
    const int digit = static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
    if (args.json) {
      results.push_back({{"file", path}, {"digit", digit}, {"probabilities", std::vector<float>(probs.begin(), probs.end())}});
      continue;
    }
    std::string table;
    for (size_t d = 0; d < probs.size(); ++d) table += fmt::format(" {}:{:.3f}", d, probs[d]);
    fmt::print("{}: {} (p = {:.3f}) |{}\n", path, digit, probs[digit], table);
  }
  if (args.json) fmt::print("{}\n", results.dump());
  return 0;
}

}  // namespace

Command add_predict(CLI::App& app) {
  auto args = std::make_shared<PredictArgs>();
  auto* cmd = app.add_subcommand("predict", "Recognise the digit in your own PNG, JPEG or BMP images");
  cmd->footer("Any size, dark ink on light paper or light on dark. Examples:\n"
              "  mnist predict mnist.safetensors my-digit.png\n"
              "  mnist predict mnist.safetensors *.jpg --json");
  cmd->add_option("MODEL", args->model, "Checkpoint (safetensors) written by mnist train")->required();
  cmd->add_option("IMAGE", args->images, "Image files of one digit each")->required();
  cmd->add_flag("--json", args->json, "Print a JSON list of {file, digit, probabilities}");
  cmd->add_flag("--show", args->show, "Draw the preprocessed 28x28 input as text");
  return {cmd, [args] { return run_predict(*args); }};
}

}  // namespace mnist::cli
