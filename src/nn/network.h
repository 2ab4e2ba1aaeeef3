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
  enum class Kind { Conv2d, ReLU, MaxPool2d, Linear, BatchNorm, Dropout };
  Kind kind;
  std::string name;  // parameter prefix ("conv1") for layers with parameters
  int out = 0;       // output channels (Conv2d) or features (Linear)
  int kernel = 0, stride = 1, pad = 0;
  double rate = 0;   // Dropout: the share of values zeroed

  static LayerSpec conv2d(std::string name, int out_channels, int kernel, int pad) {
    return {Kind::Conv2d, std::move(name), out_channels, kernel, 1, pad};
  }
  static LayerSpec relu() { return {Kind::ReLU, "", 0, 0, 1, 0}; }
  static LayerSpec maxpool2d(int kernel) { return {Kind::MaxPool2d, "", 0, kernel, kernel, 0}; }
  // Flattens its input in (C, H, W) order, like torch.flatten before nn.Linear.
  static LayerSpec linear(std::string name, int out_features) {
    return {Kind::Linear, std::move(name), out_features, 0, 1, 0};
  }
  // PyTorch's BatchNorm2d over the channels of its input, or BatchNorm1d
  // after a linear layer (whose output is C x 1 x 1): eps 1e-5, momentum 0.1.
  static LayerSpec batchnorm(std::string name) { return {Kind::BatchNorm, std::move(name), 0, 0, 1, 0}; }
  // Inverted dropout: in training each value is zeroed with probability
  // rate and the others scaled by 1 / (1 - rate); in evaluation, identity.
  static LayerSpec dropout(double rate) { return {Kind::Dropout, "", 0, 0, 1, 0, rate}; }
};

constexpr float kBatchNormEps = 1e-5f;
constexpr float kBatchNormMomentum = 0.1f;

// A layer with its shapes resolved and its parameters located.
struct Layer {
  LayerSpec spec;
  Shape in, out;
  size_t weight = 0, bias = 0;  // offsets into the parameter block
  ConvGeometry conv;            // Conv2d only
  PoolGeometry pool;            // MaxPool2d only
  size_t running = 0;           // BatchNorm: running mean then variance, offset into the buffer block
  int norm = -1;                // BatchNorm: its index among the network's BatchNorm layers
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

  // Buffers: what the network keeps that no optimizer trains, the running
  // statistics of its BatchNorm layers (PyTorch's "bn1.running_mean" and
  // "bn1.running_var"), and per BatchNorm layer the count of batches its
  // statistics have seen ("bn1.num_batches_tracked", an int64 scalar).
  const std::vector<ParamTensor>& buffer_tensors() const { return buffer_tensors_; }
  std::span<T> buffers() { return buffers_; }
  std::span<const T> buffers() const { return buffers_; }
  std::span<T> buffer_view(const ParamTensor& t) { return {buffers_.data() + t.offset, t.size}; }
  int batchnorm_layers() const { return static_cast<int>(tracked_.size()); }
  std::vector<int64_t>& batches_tracked() { return tracked_; }
  const std::vector<int64_t>& batches_tracked() const { return tracked_; }
  // Floats of batch statistics a training forward pass produces (a mean and
  // an unbiased variance per BatchNorm channel), for update_running_stats.
  size_t batch_stats_size() const { return buffers_size_; }
  // Folds one forward pass's batch statistics into the running ones, as
  // PyTorch does after each forward in training mode:
  //   running = (1 - momentum) running + momentum batch.
  void update_running_stats(const T* batch_stats);

  // PyTorch's default initialisation of Conv2d and Linear: weights and biases
  // uniform in +-1/sqrt(fan_in), drawn from the seed's own stream.
  void init(uint64_t seed);

  // Sets every Dropout layer's rate (in [0, 1); 0 turns them off). Error if
  // the network has none.
  void set_dropout(double rate);

 private:
  std::string model_;
  Shape input_;
  int classes_;
  std::vector<Layer> layers_;
  std::vector<ParamTensor> tensors_;
  size_t num_params_ = 0;
  std::vector<T> params_;
  std::vector<ParamTensor> buffer_tensors_;
  size_t buffers_size_ = 0;
  std::vector<T> buffers_;
  std::vector<int64_t> tracked_;
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
  // A workspace for training runs the network in training mode (BatchNorm
  // on the batch's statistics, dropout on), one for inference in
  // evaluation mode.
  const T* forward(const Network<T>& net, const T* x, int n);
  // Training mode's randomness (dropout): the step's seed, and the batch
  // position of x's first sample. Each sample's draws depend on these two
  // alone, not on the thread or the chunk that computes it.
  void set_noise(uint64_t seed, int first_sample) {
    noise_seed_ = seed;
    first_sample_ = first_sample;
  }
  // The batch statistics of the last training forward pass
  // (Network::batch_stats_size() floats).
  const std::vector<T>& batch_stats() const { return batch_stats_; }
  // Back-propagates dlogits (n, classes) through the last forward and adds the
  // parameter gradients into grad (laid out like the parameter block).
  void backward(const Network<T>& net, const T* dlogits, int n, T* grad);

 private:
  int max_batch_;
  bool training_;
  uint64_t noise_seed_ = 0;
  int first_sample_ = 0;
  std::vector<T> batch_stats_;                // BatchNorm, training only
  std::vector<std::vector<T>> inv_std_;       // per layer (BatchNorm, training only)
  const T* input_ = nullptr;
  std::vector<std::vector<T>> activations_;   // output of each layer
  std::vector<std::vector<int32_t>> argmax_;  // per layer (MaxPool2d only)
  std::vector<std::vector<T>> saved_;         // per layer, training only: Conv2d's inputs, BatchNorm's xhat, Dropout's mask
  std::vector<T> grad_a_, grad_b_;            // ping-pong activation gradients
  std::vector<T> scratch_;                    // im2col blocks
};

}  // namespace mnist
