#include "nn/network.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/rng.h"

namespace mnist {

template <class T>
Network<T>::Network(std::string model, const std::vector<LayerSpec>& specs, Shape input, int classes, bool allocate)
    : model_(std::move(model)), input_(input), classes_(classes) {
  Shape shape = input;
  size_t offset = 0;
  auto add_tensor = [&](const std::string& name, std::vector<int64_t> dims, bool is_bias) {
    size_t size = 1;
    for (auto d : dims) size *= static_cast<size_t>(d);
    tensors_.push_back({name, std::move(dims), offset, size, is_bias});
    offset += size;
    return tensors_.back().offset;
  };
  for (const auto& spec : specs) {
    Layer layer{spec, shape, shape, 0, 0, {}, {}};
    switch (spec.kind) {
      case LayerSpec::Kind::Conv2d: {
        layer.conv = {shape.channels, shape.height, shape.width, spec.out, spec.kernel, spec.stride, spec.pad};
        if (layer.conv.out_height() < 1 || layer.conv.out_width() < 1) {
          throw Error(model_ + ": input " + std::to_string(shape.height) + "x" + std::to_string(shape.width) +
                      " is too small for layer " + spec.name);
        }
        layer.out = {spec.out, layer.conv.out_height(), layer.conv.out_width()};
        layer.weight = add_tensor(spec.name + ".weight", {spec.out, shape.channels, spec.kernel, spec.kernel}, false);
        layer.bias = add_tensor(spec.name + ".bias", {spec.out}, true);
        break;
      }
      case LayerSpec::Kind::ReLU:
        break;
      case LayerSpec::Kind::MaxPool2d:
        layer.pool = {shape.height, shape.width, spec.kernel, spec.stride};
        if (shape.height < spec.kernel || shape.width < spec.kernel) {
          throw Error(model_ + ": input is too small for " + std::to_string(spec.kernel) + "x" +
                      std::to_string(spec.kernel) + " pooling");
        }
        layer.out = {shape.channels, layer.pool.out_height(), layer.pool.out_width()};
        break;
      case LayerSpec::Kind::Linear: {
        const auto in_features = static_cast<int64_t>(shape.size());
        layer.out = {spec.out, 1, 1};
        layer.weight = add_tensor(spec.name + ".weight", {spec.out, in_features}, false);
        layer.bias = add_tensor(spec.name + ".bias", {spec.out}, true);
        break;
      }
    }
    shape = layer.out;
    layers_.push_back(layer);
  }
  if (shape.size() != static_cast<size_t>(classes)) {
    throw Error(model_ + ": the last layer has " + std::to_string(shape.size()) + " outputs, expected " +
                std::to_string(classes));
  }
  num_params_ = offset;
  if (allocate) params_.assign(offset, T(0));
}

template <class T>
const ParamTensor* Network<T>::find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

template <class T>
void Network<T>::init(uint64_t seed) {
  Rng rng(mix_seed(seed, /*stream=*/1));
  for (const auto& layer : layers_) {
    if (layer.spec.kind != LayerSpec::Kind::Conv2d && layer.spec.kind != LayerSpec::Kind::Linear) {
      continue;
    }
    const bool conv = layer.spec.kind == LayerSpec::Kind::Conv2d;
    const size_t fan_in =
        conv ? static_cast<size_t>(layer.in.channels) * layer.spec.kernel * layer.spec.kernel : layer.in.size();
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    const size_t weights = layer.bias - layer.weight;
    for (size_t i = 0; i < weights; ++i) params_[layer.weight + i] = rng.uniform(-bound, bound);
    for (int i = 0; i < layer.spec.out; ++i) params_[layer.bias + i] = rng.uniform(-bound, bound);
  }
}

template <class T>
Workspace<T>::Workspace(const Network<T>& net, int max_batch, bool for_training) : max_batch_(max_batch) {
  size_t largest = 0;  // of the input gradients: every layer's but the first
  size_t scratch = 0;
  for (const auto& layer : net.layers()) {
    if (&layer != &net.layers().front()) largest = std::max(largest, layer.in.size());
    activations_.emplace_back(layer.out.size() * max_batch);
    argmax_.emplace_back(layer.spec.kind == LayerSpec::Kind::MaxPool2d ? layer.out.size() * max_batch : 0);
    saved_.emplace_back(
        for_training && layer.spec.kind == LayerSpec::Kind::Conv2d ? conv2d_saved_size<T>(layer.conv, max_batch) : 0);
    if (layer.spec.kind == LayerSpec::Kind::Conv2d) {
      scratch = std::max(scratch, conv2d_scratch_size<T>(layer.conv, max_batch));
    }
  }
  if (for_training) {  // inference needs no activation gradients
    grad_a_.resize(largest * max_batch);
    grad_b_.resize(largest * max_batch);
  }
  scratch_.resize(scratch);
}

template <class T>
const T* Workspace<T>::forward(const Network<T>& net, const T* x, int n) {
  input_ = x;
  const T* params = net.params().data();
  const T* in = x;
  const auto& layers = net.layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    T* out = activations_[i].data();
    switch (l.spec.kind) {
      case LayerSpec::Kind::Conv2d:
        conv2d_forward(in, params + l.weight, params + l.bias, out, n, l.conv, scratch_.data(),
                       saved_[i].empty() ? nullptr : saved_[i].data());
        break;
      case LayerSpec::Kind::ReLU:
        relu_forward(in, out, l.out.size() * n);
        break;
      case LayerSpec::Kind::MaxPool2d:
        maxpool_forward(in, out, argmax_[i].data(), static_cast<size_t>(n) * l.in.channels, l.pool);
        break;
      case LayerSpec::Kind::Linear:
        linear_forward(in, params + l.weight, params + l.bias, out, n, static_cast<int>(l.in.size()), l.spec.out);
        break;
    }
    in = out;
  }
  return in;
}

template <class T>
void Workspace<T>::backward(const Network<T>& net, const T* dlogits, int n, T* grad) {
  const T* params = net.params().data();
  const auto& layers = net.layers();
  const T* dout = dlogits;
  for (size_t i = layers.size(); i-- > 0;) {
    const Layer& l = layers[i];
    const T* in = i == 0 ? input_ : activations_[i - 1].data();
    // The first layer's input gradient is never used.
    T* din = nullptr;
    if (i > 0) din = (dout == grad_a_.data()) ? grad_b_.data() : grad_a_.data();
    switch (l.spec.kind) {
      case LayerSpec::Kind::Conv2d:
        conv2d_backward(in, params + l.weight, dout, din, grad + l.weight, grad + l.bias, n, l.conv, scratch_.data(),
                        saved_[i].empty() ? nullptr : saved_[i].data());
        break;
      case LayerSpec::Kind::ReLU:
        if (din) relu_backward(activations_[i].data(), dout, din, l.out.size() * n);
        break;
      case LayerSpec::Kind::MaxPool2d:
        if (din) {
          maxpool_backward(dout, argmax_[i].data(), din, static_cast<size_t>(n) * l.in.channels, l.pool);
        }
        break;
      case LayerSpec::Kind::Linear:
        linear_backward(in, params + l.weight, dout, din, grad + l.weight, grad + l.bias, n,
                        static_cast<int>(l.in.size()), l.spec.out);
        break;
    }
    dout = din;
  }
}

template class Network<float>;
template class Network<double>;
template class Workspace<float>;
template class Workspace<double>;

}  // namespace mnist
