#include "train/evaluate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/layers.h"

namespace mnist {

namespace {
constexpr int kEvalBlock = 32;  // small enough to keep evaluation memory low, large enough for speed
}

EvalResult evaluate(const Network<float>& network, const ImageSet& set, const InputScaling& scaling,
                    ThreadPool& pool, bool keep_logits) {
  const int classes = network.classes();
  const int blocks = batches_per_epoch(set.count, kEvalBlock);
  const size_t image = set.image_size();
  struct BlockResult {
    double loss = 0;
    int correct = 0;
    std::vector<int> confusion;
  };
  std::vector<BlockResult> results(static_cast<size_t>(blocks));
  EvalResult total;
  total.predicted.resize(static_cast<size_t>(set.count));
  total.confidence.resize(static_cast<size_t>(set.count));
  if (keep_logits) total.logits.resize(static_cast<size_t>(set.count) * classes);
  std::vector<Workspace<float>> workspaces;
  std::vector<std::vector<float>> inputs(static_cast<size_t>(pool.size()),
                                         std::vector<float>(image * kEvalBlock));
  std::vector<std::vector<uint8_t>> labels(static_cast<size_t>(pool.size()),
                                           std::vector<uint8_t>(kEvalBlock));
  for (int w = 0; w < pool.size(); ++w) workspaces.emplace_back(network, kEvalBlock, /*for_training=*/false);
  std::vector<uint32_t> all(static_cast<size_t>(set.count));  // samples in order; blocks are slices of it
  std::iota(all.begin(), all.end(), 0u);
  pool.run(blocks, [&](int b, int w) {
    const auto [begin, end] = batch_range(set.count, kEvalBlock, b);
    const int n = end - begin;
    set.gather(std::span(all).subspan(begin, n), scaling, inputs[w].data(), labels[w].data());
    const float* logits = workspaces[w].forward(network, inputs[w].data(), n);
    if (keep_logits) {
      std::copy(logits, logits + static_cast<size_t>(n) * classes,
                total.logits.begin() + static_cast<std::ptrdiff_t>(begin) * classes);
    }
    BlockResult& r = results[b];
    r.loss = softmax_cross_entropy<float>(logits, labels[w].data(), n, classes, 1.0f, nullptr);
    r.confusion.assign(static_cast<size_t>(classes) * classes, 0);
    for (int i = 0; i < n; ++i) {
      const float* z = logits + static_cast<size_t>(i) * classes;
      const int predicted = static_cast<int>(std::max_element(z, z + classes) - z);
      // The predicted class's softmax probability: 1 / sum exp(z - z_max).
      double sum = 0;
      for (int c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - z[predicted]);
      total.predicted[static_cast<size_t>(begin + i)] = static_cast<uint8_t>(predicted);
      total.confidence[static_cast<size_t>(begin + i)] = static_cast<float>(1 / sum);
      r.correct += predicted == labels[w][i];
      ++r.confusion[static_cast<size_t>(labels[w][i]) * classes + predicted];
    }
  });
  total.samples = set.count;
  total.confusion.assign(static_cast<size_t>(classes) * classes, 0);
  for (const auto& r : results) {
    total.loss += r.loss;
    total.correct += r.correct;
    for (size_t i = 0; i < r.confusion.size(); ++i) total.confusion[i] += r.confusion[i];
  }
  total.loss /= std::max(1, set.count);
  return total;
}

std::vector<ClassMetrics> class_metrics(const EvalResult& r, int classes) {
  std::vector<ClassMetrics> out;
  for (int c = 0; c < classes; ++c) {
    int predicted = 0, actual = 0;
    for (int k = 0; k < classes; ++k) {
      predicted += r.confusion[static_cast<size_t>(k) * classes + c];
      actual += r.confusion[static_cast<size_t>(c) * classes + k];
    }
    const int right = r.confusion[static_cast<size_t>(c) * classes + c];
    out.push_back({c, actual, predicted ? static_cast<double>(right) / predicted : NAN,
                   actual ? static_cast<double>(right) / actual : NAN});
  }
  return out;
}

Predictor::Predictor(const Network<float>& network)
    : network_(network), workspace_(network, 1, /*for_training=*/false), probs_(network.classes()) {}

std::span<const float> Predictor::operator()(const float* input) {
  softmax(workspace_.forward(network_, input, 1), probs_.data(), 1, network_.classes());
  return probs_;
}

}  // namespace mnist
