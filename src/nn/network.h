#pragma once
// A feed-forward network: a list of layers over NCHW batches, with all
// parameters in one contiguous block and named views (PyTorch state_dict
// names and layouts) into it. Activations live in a Workspace, one per worker
// thread, so one Network can be trained by several threads at once.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/layers.h"
#include "util/param_tensor.h"

namespace mnist {

struct Shape {
  int channels = 1, height = 1, width = 1;
  size_t size() const { return static_cast<size_t>(channels) * height * width; }
  bool operator==(const Shape&) const = default;
};

struct LayerSpec {
  enum class Kind { Conv2d, ReLU, MaxPool2d, Linear };
  Kind kind;
  std::string name;  // parameter prefix ("conv1") for layers with parameters
  int out = 0;       // output channels (Conv2d) or features (Linear)
  int kernel = 0, stride = 1, pad = 0;

  static LayerSpec conv2d(std::string name, int out_channels, int kernel, int pad) {
    return {Kind::Conv2d, std::move(name), out_channels, kernel, 1, pad};
  }
  static LayerSpec relu() { return {Kind::ReLU, "", 0, 0, 1, 0}; }
  static LayerSpec maxpool2d(int kernel) { return {Kind::MaxPool2d, "", 0, kernel, kernel, 0}; }
  // Flattens its input in (C, H, W) order, like torch.flatten before nn.Linear.
  static LayerSpec linear(std::string name, int out_features) {
    return {Kind::Linear, std::move(name), out_features, 0, 1, 0};
  }
};

// A layer with its shapes resolved and its parameters located.
struct Layer {
  LayerSpec spec;
  Shape in, out;
  size_t weight = 0, bias = 0;  // offsets into the parameter block
  ConvGeometry conv;            // Conv2d only
  PoolGeometry pool;            // MaxPool2d only
};

template <class T>
class Network {
 public:
  // With allocate false, only the shapes and offsets are worked out (to
  // check a size before committing memory to it); params() is then empty.
  Network(std::string model, const std::vector<LayerSpec>& specs, Shape input, int classes, bool allocate = true);

  const std::string& model() const { return model_; }
  Shape input_shape() const { return input_; }
  int classes() const { return classes_; }
  const std::vector<Layer>& layers() const { return layers_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const ParamTensor* find(const std::string& name) const;

  size_t num_params() const { return num_params_; }
  std::span<T> params() { return params_; }
  std::span<const T> params() const { return params_; }
  std::span<T> view(const ParamTensor& t) { return {params_.data() + t.offset, t.size}; }

  // PyTorch's default initialisation of Conv2d and Linear: weights and biases
  // uniform in +-1/sqrt(fan_in), drawn from the seed's own stream.
  void init(uint64_t seed);

 private:
  std::string model_;
  Shape input_;
  int classes_;
  std::vector<Layer> layers_;
  std::vector<ParamTensor> tensors_;
  size_t num_params_ = 0;
  std::vector<T> params_;
};

// Activations and scratch for up to max_batch samples. A workspace for
// training keeps what each convolution's backward pass needs from its forward
// pass (padded input planes, or im2col columns), memory for speed; one for
// inference does not.
template <class T>
class Workspace {
 public:
  Workspace(const Network<T>& net, int max_batch, bool for_training = true);
  int max_batch() const { return max_batch_; }

  // x (n, C, H, W) -> logits (n, classes), valid until the next call.
  const T* forward(const Network<T>& net, const T* x, int n);
  // Back-propagates dlogits (n, classes) through the last forward and adds the
  // parameter gradients into grad (laid out like the parameter block).
  void backward(const Network<T>& net, const T* dlogits, int n, T* grad);

 private:
  int max_batch_;
  const T* input_ = nullptr;
  std::vector<std::vector<T>> activations_;   // output of each layer
  std::vector<std::vector<int32_t>> argmax_;  // per layer (MaxPool2d only)
  std::vector<std::vector<T>> saved_;         // per layer (Conv2d, training only)
  std::vector<T> grad_a_, grad_b_;            // ping-pong activation gradients
  std::vector<T> scratch_;                    // im2col blocks
};

}  // namespace mnist
