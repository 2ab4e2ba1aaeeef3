#include "optim/optimizer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "optim/passes.h"
#include "util/error.h"
#include "util/options.h"

namespace mnist {

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors)
    : config_(config), tensors_(std::move(tensors)), decay_(optimizer_row(config.name).decay) {
  for (const auto& t : tensors_) size_ = std::max(size_, t.offset + t.size);
}

void Optimizer::step(std::span<float> params, std::span<const float> grads, double lr, const Reevaluate*) {
  MNIST_ASSERT(params.size() >= size_ && grads.size() >= size_);
  const double wd = decay_ == WeightDecay::None ? 0.0 : config_.get("weight_decay");
  const float* g = grads.data();
  if (decay_ == WeightDecay::L2 && wd != 0) {
    decayed_.resize(size_);
    add_weight_decay(params, grads, decayed_, tensors_, wd, config_.decay_biases);
    g = decayed_.data();
  } else if (decay_ == WeightDecay::Decoupled) {
    decay_weights(params, tensors_, lr, wd, config_.decay_biases);
  }
  for (const auto& t : tensors_) update(params.data(), g, t.offset, t.offset + t.size, lr);
  ++steps_;
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

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamTensor>& tensors) {
  const OptimizerConfig c = config.resolved();
  return optimizer_row(c.name).make(c, tensors);
}

}  // namespace mnist
