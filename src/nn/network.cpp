#include "nn/network.h"

#include <fmt/format.h>

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
      case LayerSpec::Kind::BatchNorm: {
        // Its scale and shift are vectors: "biases" to the optimizers that
        // treat matrices and vectors apart (Muon, --no-decay-bias).
        const int64_t c = shape.channels;
        layer.weight = add_tensor(spec.name + ".weight", {c}, true);
        layer.bias = add_tensor(spec.name + ".bias", {c}, true);
        layer.running = buffers_size_;
        buffer_tensors_.push_back({spec.name + ".running_mean", {c}, buffers_size_, static_cast<size_t>(c), false});
        buffer_tensors_.push_back(
            {spec.name + ".running_var", {c}, buffers_size_ + static_cast<size_t>(c), static_cast<size_t>(c), false});
        buffers_size_ += 2 * static_cast<size_t>(c);
        layer.norm = static_cast<int>(tracked_.size());
        tracked_.push_back(0);
        break;
      }
      case LayerSpec::Kind::Dropout:
        if (!(spec.rate >= 0 && spec.rate < 1)) throw Error(model_ + ": a dropout rate must be in [0, 1)");
        break;
    }
    shape = layer.out;
    layers_.push_back(layer);
  }
  if (shape.size() != static_cast<size_t>(classes)) {
    throw Error(model_ + ": the last layer has " + std::to_string(shape.size()) + " outputs, expected " +
                std::to_string(classes));
  }
  num_params_ = offset;
  if (allocate) {
    params_.assign(offset, T(0));
    buffers_.assign(buffers_size_, T(0));
    for (const auto& layer : layers_) {  // PyTorch's: running mean 0, variance 1, weight 1
      if (layer.spec.kind != LayerSpec::Kind::BatchNorm) continue;
      const int c = layer.in.channels;
      std::fill_n(buffers_.begin() + static_cast<std::ptrdiff_t>(layer.running + c), c, T(1));
      std::fill_n(params_.begin() + static_cast<std::ptrdiff_t>(layer.weight), c, T(1));
    }
  }
}

template <class T>
void Network<T>::update_running_stats(const T* batch_stats) {
  const T m = static_cast<T>(kBatchNormMomentum);
  for (size_t i = 0; i < buffers_size_; ++i) buffers_[i] = (T(1) - m) * buffers_[i] + m * batch_stats[i];
  for (auto& t : tracked_) ++t;
}

template <class T>
const ParamTensor* Network<T>::find(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

template <class T>
void Network<T>::set_dropout(double rate) {
  if (!(rate >= 0 && rate < 1)) throw Error(fmt::format("{}: a dropout rate must be in [0, 1), got {}", model_, rate));
  bool found = false;
  for (Layer& l : layers_) {
    if (l.spec.kind == LayerSpec::Kind::Dropout) {
      l.spec.rate = rate;
      found = true;
    }
  }
  if (!found) throw Error(fmt::format("model {} has no dropout layer", model_));
}

template <class T>
void Network<T>::init(uint64_t seed) {
  Rng rng(mix_seed(seed, /*stream=*/1));
  for (const auto& layer : layers_) {
    if (layer.spec.kind == LayerSpec::Kind::BatchNorm) {  // weight 1, bias 0, as PyTorch
      std::fill_n(params_.begin() + static_cast<std::ptrdiff_t>(layer.weight), layer.in.channels, T(1));
      std::fill_n(params_.begin() + static_cast<std::ptrdiff_t>(layer.bias), layer.in.channels, T(0));
      continue;
    }
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
Workspace<T>::Workspace(const Network<T>& net, int max_batch, bool for_training)
    : max_batch_(max_batch), training_(for_training) {
  size_t largest = 0;  // of the input gradients: every layer's but the first
  size_t scratch = 0;
  for (const auto& layer : net.layers()) {
    if (&layer != &net.layers().front()) largest = std::max(largest, layer.in.size());
    activations_.emplace_back(layer.out.size() * max_batch);
    argmax_.emplace_back(layer.spec.kind == LayerSpec::Kind::MaxPool2d ? layer.out.size() * max_batch : 0);
    size_t saved = 0;
    if (for_training && layer.spec.kind == LayerSpec::Kind::Conv2d) saved = conv2d_saved_size<T>(layer.conv, max_batch);
    if (for_training && (layer.spec.kind == LayerSpec::Kind::BatchNorm || layer.spec.kind == LayerSpec::Kind::Dropout)) {
      saved = layer.out.size() * max_batch;
    }
    saved_.emplace_back(saved);
    inv_std_.emplace_back(for_training && layer.spec.kind == LayerSpec::Kind::BatchNorm ? layer.in.channels : 0);
    if (layer.spec.kind == LayerSpec::Kind::Conv2d) {
      scratch = std::max(scratch, conv2d_scratch_size<T>(layer.conv, max_batch));
    }
  }
  if (for_training) {  // inference needs no activation gradients
    grad_a_.resize(largest * max_batch);
    grad_b_.resize(largest * max_batch);
  }
  scratch_.resize(scratch);
  if (for_training) batch_stats_.resize(net.batch_stats_size());
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
      case LayerSpec::Kind::BatchNorm: {
        const int c = l.in.channels, plane = l.in.height * l.in.width;
        if (training_) {
          T* stats = batch_stats_.data() + l.running;  // the batch's mean, then its variance
          batchnorm_train_forward(in, params + l.weight, params + l.bias, out, saved_[i].data(), inv_std_[i].data(),
                                  stats, stats + c, n, c, plane, static_cast<T>(kBatchNormEps));
        } else {
          const T* running = net.buffers().data() + l.running;
          batchnorm_eval_forward(in, params + l.weight, params + l.bias, running, running + c, out, n, c, plane,
                                 static_cast<T>(kBatchNormEps));
        }
        break;
      }
      case LayerSpec::Kind::Dropout: {
        const size_t sample = l.in.size();
        if (!training_ || l.spec.rate == 0) {
          std::copy(in, in + sample * n, out);
          break;
        }
        // Sample s of the batch draws from its own stream of the step's seed.
        const T keep = static_cast<T>(1 / (1 - l.spec.rate));
        const float rate = static_cast<float>(l.spec.rate);
        T* mask = saved_[i].data();
        for (int s = 0; s < n; ++s) {
          Rng rng(mix_seed(noise_seed_, static_cast<uint64_t>(first_sample_ + s) * 64 + i));
          for (size_t k = 0; k < sample; ++k) {
            const size_t at = s * sample + k;
            mask[at] = rng.uniform() < rate ? T(0) : keep;
            out[at] = in[at] * mask[at];
          }
        }
        break;
      }
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
      case LayerSpec::Kind::BatchNorm:
        batchnorm_backward(saved_[i].data(), inv_std_[i].data(), params + l.weight, dout, din, grad + l.weight,
                           grad + l.bias, n, l.in.channels, l.in.height * l.in.width);
        break;
      case LayerSpec::Kind::Dropout:
        if (din) {
          const size_t count = l.in.size() * n;
          const T* mask = saved_[i].data();
          if (l.spec.rate == 0) {
            std::copy(dout, dout + count, din);
          } else {
            for (size_t k = 0; k < count; ++k) din[k] = dout[k] * mask[k];
          }
        }
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
