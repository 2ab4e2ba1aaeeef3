#include "optim/optimizer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "optim/passes.h"
#include "util/error.h"
#include "util/options.h"

namespace mnist {

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors)
    : config_(config), tensors_(std::move(tensors)) {
  for (const auto& t : tensors_) size_ = std::max(size_, t.offset + t.size);
}

void Optimizer::step(std::span<float> params, std::span<const float> grads, double lr, const Closure* closure) {
  MNIST_ASSERT(params.size() >= size_ && grads.size() >= size_);
  apply(params, grads, lr, closure);
  ++steps_;
}

void Optimizer::eval_point(std::span<const float> params, std::span<float> out) const {
  MNIST_ASSERT(out.size() >= size_ && params.size() >= size_);
  std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(size_), out.begin());
}

double Optimizer::decay_of(const ParamTensor& t) const {
  return t.is_bias && !config_.decay_biases ? 0.0 : config_.get("weight_decay");
}

TensorwiseOptimizer::TensorwiseOptimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors)
    : Optimizer(config, std::move(tensors)), decay_(optimizer_row(config.name).decay) {}

void TensorwiseOptimizer::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) {
  const bool decays = decay_ == WeightDecay::L2 || decay_ == WeightDecay::Decoupled;
  const double wd = decays ? config_.get("weight_decay") : 0.0;
  const float* g = grads.data();
  if (decay_ == WeightDecay::L2 && wd != 0) {
    decayed_.resize(size_);
    add_weight_decay(params, grads, decayed_, tensors_, wd, config_.decay_biases);
    g = decayed_.data();
  } else if (decay_ == WeightDecay::Decoupled) {
    decay_weights(params, tensors_, lr, wd, config_.decay_biases);
  }
  begin_step(params, lr);
  for (const auto& t : tensors_) {
    current_ = &t;
    update(params.data(), g, t.offset, t.offset + t.size, lr);
  }
  end_step(lr);
}

const OptimizerRow& optimizer_row(const std::string& name) {
  if (const OptimizerRow* row = find_row(optimizer_registry(), name)) return *row;
  throw UsageError(
      fmt::format("--optimizer: unknown optimizer '{}' (choose {})", name, fmt::join(optimizer_names(), ", ")));
}

std::vector<std::string> optimizer_names() { return row_names(optimizer_registry()); }

OptimizerConfig OptimizerConfig::resolved() const {
  OptimizerConfig c = *this;
  const OptimizerRow& row = optimizer_row(c.name);
  if (!c.lr) c.lr = row.lr;
  require(std::isfinite(*c.lr), fmt::format("--lr: must be a finite number, got {}", *c.lr));
  require(*c.lr >= 0, fmt::format("--lr: learning rate must be >= 0, got {}", *c.lr));
  resolve_hypers(c.hypers, row.hypers, "--optimizer " + c.name);
  if (row.check != nullptr) row.check(c);
  return c;
}

std::string swept_key(const std::string& optimizer) {
  const char* multiplier = optimizer_row(optimizer).multiplier;
  return multiplier != nullptr ? multiplier : "lr";
}

double default_swept_value(const std::string& optimizer) {
  const OptimizerRow& row = optimizer_row(optimizer);
  const std::string key = swept_key(optimizer);
  if (key == "lr") return row.lr;
  for (const Hyper& h : row.hypers) {
    if (key == h.key) return h.fallback.at(0);
  }
  throw std::logic_error("row " + std::string(row.name) + " sweeps a key it does not list: " + key);
}

void set_swept_value(OptimizerConfig& config, double value) {
  const std::string key = swept_key(config.name);
  if (key == "lr") {
    config.lr = value;
  } else {
    config.set(key, value);
  }
}

double swept_value(const OptimizerConfig& resolved) {
  const std::string key = swept_key(resolved.name);
  return key == "lr" ? *resolved.lr : resolved.get(key);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamTensor>& tensors) {
  const OptimizerConfig c = config.resolved();
  return optimizer_row(c.name).make(c, tensors);
}

}  // namespace mnist
