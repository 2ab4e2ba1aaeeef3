#pragma once
#include "optim/optimizer.h"

namespace mnist {

// Lion, "EvoLved Sign Momentum" (Chen et al. 2023, "Symbolic Discovery of
// Optimization Algorithms"; google/automl lion/lion_pytorch.py), after the
// shared decoupled decay p = p * (1 - lr * wd):
//   c = beta1 * m + (1 - beta1) * g
//   p = p - lr * sign(c)
//   m = beta2 * m + (1 - beta2) * g
// Found by a program search over update rules. Every weight moves by exactly
// lr each step, in the direction of an interpolation between the momentum
// and the gradient: the step size is uniform, like signSGD, and a smaller lr
// (3-10x below AdamW's) with a larger weight decay keeps the same strength.
// The momentum is updated after the step with the slower beta2.
class Lion final : public TensorwiseOptimizer {
 public:
  Lion(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    exp_avg_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override { return {{"exp_avg", &exp_avg_}}; }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr) override {
    const double b1 = config_.get("betas", 0), b2 = config_.get("betas", 1);
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
    const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
    const auto step = static_cast<float>(-lr);
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      const float c = exp_avg_[i] * beta1 + g * rest1;
      p[i] = p[i] + step * sign(c);
      exp_avg_[i] = exp_avg_[i] * beta2 + rest2 * g;
    }
  }

 private:
  static float sign(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }  // torch.sign: 0 stays 0
  std::vector<float> exp_avg_;
};

}  // namespace mnist
