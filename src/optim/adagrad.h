#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// AdaGrad (torch.optim.Adagrad; Duchi, Hazan & Singer 2011), after the
// shared L2 pass, t = 1, 2, ...:
//   sum = sum + g^2                      (sum starts at initial_accumulator)
//   p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)
// Each weight gets its own step size, large for rarely-moved weights and
// small for busy ones. The sum only grows, so every step size shrinks for
// ever: AdaGrad can stall before it arrives.
class Adagrad final : public TensorwiseOptimizer {
 public:
  Adagrad(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    sum_.assign(size_, static_cast<float>(config_.get("initial_accumulator")));
  }
  std::vector<StateBuffer> state_buffers() override { return {{"sum", &sum_}}; }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr) override {
    const auto clr = static_cast<float>(lr / (1 + static_cast<double>(steps_) * config_.get("lr_decay")));
    const auto eps = static_cast<float>(config_.get("eps"));
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      sum_[i] = sum_[i] + g * g;
      p[i] = p[i] - clr * (g / (std::sqrt(sum_[i]) + eps));
    }
  }

 private:
  std::vector<float> sum_;
};

}  // namespace mnist
