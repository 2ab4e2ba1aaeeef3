#include "optim/optimizer.h"

#include <fmt/format.h>

#include <cmath>

#include "util/error.h"

namespace mnist {

namespace {

// torch.optim.SGD:
//   g = grad + weight_decay * p
//   if momentum != 0:
//     b = g                                  on the first step
//     b = momentum * b + (1 - dampening) * g afterwards
//     g = g + momentum * b  (nesterov)   or   g = b
//   p = p - lr * g
// Momentum keeps a running direction: components that flip sign from batch to
// batch cancel in b, while a consistent slope builds up speed.
class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, std::vector<ParamTensor> tensors, size_t size)
      : Optimizer(std::move(tensors)), config_(c) {
    if (c.momentum != 0) momentum_buffer_.assign(size, 0.0f);
  }
  std::string name() const override { return config_.name; }
  std::vector<StateBuffer> state_buffers() override {
    if (momentum_buffer_.empty()) return {};
    return {{"momentum_buffer", &momentum_buffer_}};
  }

 protected:
  void update(std::span<float> params, std::span<const float> grads, double lr_d) override {
    const auto lr = static_cast<float>(lr_d);
    const auto wd = static_cast<float>(config_.weight_decay);
    const auto mu = static_cast<float>(config_.momentum);
    const auto keep = static_cast<float>(1.0 - config_.dampening);
    const bool first = steps_ == 0;
    for (size_t i = 0; i < params.size(); ++i) {
      float g = grads[i];
      if (wd != 0) g = g + wd * params[i];
      if (mu != 0) {
        float& b = momentum_buffer_[i];
        b = first ? g : mu * b + keep * g;
        g = config_.nesterov ? g + mu * b : b;
      }
      params[i] = params[i] - lr * g;
    }
  }

 private:
  OptimizerConfig config_;
  std::vector<float> momentum_buffer_;
};

void require(bool ok, const std::string& message) {
  if (!ok) throw UsageError(message);
}

}  // namespace

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd", "momentum"};
  return names;
}

void validate(const OptimizerConfig& c) {
  bool known = false;
  for (const auto& n : optimizer_names()) known = known || n == c.name;
  require(known, fmt::format("--optimizer: unknown optimizer '{}' (choose {})", c.name,
                             fmt::join(optimizer_names(), ", ")));
  require(std::isfinite(c.lr) && c.lr >= 0,
          fmt::format("--lr: learning rate must be a finite number >= 0, got {}", c.lr));
  require(std::isfinite(c.momentum) && c.momentum >= 0,
          fmt::format("--momentum: must be a finite number >= 0, got {}", c.momentum));
  require(std::isfinite(c.dampening) && c.dampening >= 0 && c.dampening <= 1,
          fmt::format("--dampening: must be in [0, 1], got {}", c.dampening));
  require(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
          fmt::format("--weight-decay: must be a finite number >= 0, got {}", c.weight_decay));
  require(!c.nesterov || (c.momentum > 0 && c.dampening == 0),
          "--nesterov: needs --momentum > 0 and --dampening 0");
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const std::vector<ParamTensor>& tensors) {
  validate(config);
  size_t size = 0;
  for (const auto& t : tensors) size = std::max(size, t.offset + t.size);
  // "momentum" is SGD with momentum (0.9 unless set): the course's Momentum.
  return std::make_unique<Sgd>(config, tensors, size);
}

}  // namespace mnist
