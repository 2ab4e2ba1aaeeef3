#include "nn/models.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "util/error.h"

namespace mnist {

namespace {

using L = LayerSpec;

// The course network: conv(1->20, 5x5, pad 2)+ReLU, max-pool 2,
// conv(20->20, 5x5, pad 2)+ReLU, max-pool 2, fully connected 980->10.
// ReLU and max-pooling commute exactly (max(relu(a)) = relu(max(a)), and
// the gradients agree too, windows without a positive value included), so
// pooling first computes the same network with the ReLU on a quarter of the
// values.
std::vector<LayerSpec> cnn(int classes) {
  return {L::conv2d("conv1", 20, 5, 2), L::maxpool2d(2), L::relu(),
          L::conv2d("conv2", 20, 5, 2), L::maxpool2d(2), L::relu(),
          L::linear("fc", classes)};
}

// One hidden layer of 256 ReLU units.
std::vector<LayerSpec> mlp(int classes) { return {L::linear("fc1", 256), L::relu(), L::linear("fc2", classes)}; }

// Softmax regression.
std::vector<LayerSpec> linear(int classes) { return {L::linear("fc", classes)}; }

// The speedrun's network: the course's layout, narrower where the images
// are large and wider where they are small, 3x3 in the second convolution,
// batch normalisation after each pooling and a hidden layer of 64. About
// half the course CNN's multiply-adds.
std::vector<LayerSpec> speed(int classes) {
  return {L::conv2d("conv1", 16, 5, 2), L::maxpool2d(2), L::batchnorm("bn1"), L::relu(),
          L::conv2d("conv2", 32, 3, 1), L::maxpool2d(2), L::batchnorm("bn2"), L::relu(),
          L::linear("fc1", 64), L::batchnorm("bn3"), L::relu(), L::linear("fc2", classes)};
}

// Three convolutions (32, 64, 128 channels), each batch-normalised, and a
// batch-normalised hidden layer of 128 with dropout.
std::vector<LayerSpec> best(int classes) {
  return {L::conv2d("conv1", 32, 5, 2), L::maxpool2d(2), L::batchnorm("bn1"), L::relu(),
          L::conv2d("conv2", 64, 3, 1), L::maxpool2d(2), L::batchnorm("bn2"), L::relu(),
          L::conv2d("conv3", 128, 3, 1), L::batchnorm("bn3"), L::relu(), L::maxpool2d(2),
          L::linear("fc1", 128), L::batchnorm("bn4"), L::relu(), L::dropout(0.3), L::linear("fc2", classes)};
}

}  // namespace

const std::vector<ModelRow>& model_registry() {
  static const std::vector<ModelRow> rows = {
      {"cnn", "the course network", cnn},
      {"mlp", "one hidden layer of 256", mlp},
      {"linear", "softmax regression", linear},
      {"speed", "the speedrun's, batch-normalised", speed},
      {"best", "the best recipe's, batch norm and dropout", best},
  };
  return rows;
}

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const ModelRow& row : model_registry()) out.emplace_back(row.name);
    return out;
  }();
  return names;
}

const ModelRow& find_model(const std::string& name) {
  for (const ModelRow& row : model_registry()) {
    if (row.name == name) return row;
  }
  throw UsageError(fmt::format("--model: unknown model '{}' (choose {})", name, fmt::join(model_names(), ", ")));
}

template <class T>
Network<T> make_network(const std::string& model, Shape input, int classes, bool allocate) {
  return Network<T>(model, find_model(model).layers(classes), input, classes, allocate);
}

template Network<float> make_network<float>(const std::string&, Shape, int, bool);
template Network<double> make_network<double>(const std::string&, Shape, int, bool);

}  // namespace mnist
