#include "train/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "util/error.h"

namespace mnist {

ImageClassifier::ImageClassifier(const SavedModel& model, const std::string& what)
    : model_(model), predict_(model.network) {
  const Shape shape = model.network.input_shape();
  if (shape.channels != 1 || shape.height != shape.width) {
    throw Error(fmt::format("{}: the model takes {}x{}x{} inputs; recognising photos needs a model for square grey "
                            "images",
                            what, shape.channels, shape.height, shape.width));
  }
  size_ = shape.height;
  box_ = std::max(1, (size_ * 20 + 14) / 28);  // MNIST fits digits into 20x20 of 28x28
}

Prediction ImageClassifier::classify(const GrayImage& image, const std::string& what) {
  Prediction p;
  p.size = size_;
  p.input = preprocess_digit(image, what, size_, box_);
  std::vector<float> scaled(p.input.size());
  for (size_t i = 0; i < p.input.size(); ++i) scaled[i] = model_.scaling.apply(p.input[i]);
  const std::span<const float> probs = predict_(scaled.data());
  p.probabilities.assign(probs.begin(), probs.end());
  p.digit = static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  return p;
}

std::vector<std::pair<int, float>> top_k(const std::vector<float>& probabilities, int k) {
  std::vector<int> order(probabilities.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return probabilities[a] > probabilities[b]; });
  std::vector<std::pair<int, float>> out;
  for (int i = 0; i < std::min<int>(k, static_cast<int>(order.size())); ++i) {
    out.emplace_back(order[i], probabilities[order[i]]);
  }
  return out;
}

std::vector<std::string> input_as_text(const Prediction& p) {
  static constexpr const char* kRamp = " .:-=+*#%@";
  std::vector<std::string> rows;
  for (int y = 0; y < p.size; ++y) {
    std::string line;
    for (int x = 0; x < p.size; ++x) {
      const float v = p.input[static_cast<size_t>(y) * p.size + x];
      line += kRamp[std::clamp(static_cast<int>(v / 256.0f * 10), 0, 9)];
    }
    rows.push_back(std::move(line));
  }
  return rows;
}

}  // namespace mnist
