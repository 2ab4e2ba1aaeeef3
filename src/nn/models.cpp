#include "nn/models.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "util/error.h"

namespace mnist {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"cnn", "mlp", "linear", "speed", "best"};
  return names;
}

namespace {

std::vector<LayerSpec> specs_for(const std::string& model, int classes) {
  using L = LayerSpec;
  if (model == "cnn") {
    // The course network: conv(1->20, 5x5, pad 2)+ReLU, max-pool 2,
    // conv(20->20, 5x5, pad 2)+ReLU, max-pool 2, fully connected 980->10.
    // ReLU and max-pooling commute exactly (max(relu(a)) = relu(max(a)), and
    // the gradients agree too, windows without a positive value included),
    // so pooling first computes the same network with the ReLU on a quarter
    // of the values.
    return {L::conv2d("conv1", 20, 5, 2), L::maxpool2d(2), L::relu(),
            L::conv2d("conv2", 20, 5, 2), L::maxpool2d(2), L::relu(),
            L::linear("fc", classes)};
  }
  if (model == "speed") {
    // The speedrun's network: the course's layout, narrower where the
    // images are large and wider where they are small, 3x3 in the second
    // convolution, batch normalisation after each pooling and a hidden
    // layer of 64. About half the course CNN's multiply-adds.
    return {L::conv2d("conv1", 16, 5, 2), L::maxpool2d(2), L::batchnorm("bn1"), L::relu(),
            L::conv2d("conv2", 32, 3, 1), L::maxpool2d(2), L::batchnorm("bn2"), L::relu(),
            L::linear("fc1", 64), L::batchnorm("bn3"), L::relu(), L::linear("fc2", classes)};
  }
  if (model == "best") {
    // Three convolutions (32, 64, 128 channels), each batch-normalised,
    // and a batch-normalised hidden layer of 128 with dropout.
    return {L::conv2d("conv1", 32, 5, 2), L::maxpool2d(2), L::batchnorm("bn1"), L::relu(),
            L::conv2d("conv2", 64, 3, 1), L::maxpool2d(2), L::batchnorm("bn2"), L::relu(),
            L::conv2d("conv3", 128, 3, 1), L::batchnorm("bn3"), L::relu(), L::maxpool2d(2),
            L::linear("fc1", 128), L::batchnorm("bn4"), L::relu(), L::dropout(0.3), L::linear("fc2", classes)};
  }
  if (model == "mlp") {
    // One hidden layer of 256 ReLU units.
    return {L::linear("fc1", 256), L::relu(), L::linear("fc2", classes)};
  }
  if (model == "linear") return {L::linear("fc", classes)};  // softmax regression
  throw UsageError(fmt::format("--model: unknown model '{}' (choose {})", model, fmt::join(model_names(), ", ")));
}

}  // namespace

template <class T>
Network<T> make_network(const std::string& model, Shape input, int classes, bool allocate) {
  return Network<T>(model, specs_for(model, classes), input, classes, allocate);
}

template Network<float> make_network<float>(const std::string&, Shape, int, bool);
template Network<double> make_network<double>(const std::string&, Shape, int, bool);

}  // namespace mnist
