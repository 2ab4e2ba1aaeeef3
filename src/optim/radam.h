#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// RAdam (torch.optim.RAdam of PyTorch 1.13; Liu et al. 2020, "On the
// Variance of the Adaptive Learning Rate and Beyond"), t = 1, 2, ..., after
// the shared L2 pass:
//   m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g^2
//   rho_inf = 2 / (1 - beta2) - 1
//   rho_t   = rho_inf - 2 t beta2^t / (1 - beta2^t)
//   rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//               p = p - lr * m / (1 - beta1^t) * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
//   otherwise:  p = p - lr * m / (1 - beta1^t)         (SGD with momentum)
// Early on, v rests on too few gradients for its scale to be trusted, and
// Adam's steps are erratic (the reason for warm-ups). RAdam takes plain
// momentum steps until the variance of the adaptive rate is finite
// (rho_t > 5, the 6th step at beta2 = 0.999), then rectifies it: a warm-up
// derived from beta2 instead of tuned.
class RAdam final : public TensorwiseOptimizer {
 public:
  RAdam(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    exp_avg_ = zeros();
    exp_avg_sq_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override { return {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}}; }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d) override {
    const double b1 = config_.get("betas", 0), b2 = config_.get("betas", 1);
    const auto t = static_cast<double>(steps_ + 1);
    const double bc1 = 1 - std::pow(b1, t), bc2 = 1 - std::pow(b2, t);
    const double rho_inf = 2 / (1 - b2) - 1;
    const double rho_t = rho_inf - 2 * t * std::pow(b2, t) / bc2;
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
    const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
    const auto bias1 = static_cast<float>(bc1), lr = static_cast<float>(lr_d);
    const auto eps = static_cast<float>(config_.get("eps"));
    const bool rectified = rho_t > 5;
    const auto rect = static_cast<float>(
        rectified ? std::sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) : 0);
    const auto bc2_sqrt = static_cast<float>(std::sqrt(bc2));
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      exp_avg_[i] = exp_avg_[i] * beta1 + rest1 * g;
      exp_avg_sq_[i] = exp_avg_sq_[i] * beta2 + rest2 * g * g;
      const float corrected = exp_avg_[i] / bias1;
      if (rectified) {
        // torch: sqrt(bc2) / (sqrt(v) + eps) is computed as reciprocal() * sqrt(bc2).
        const float adaptive = (1.0f / (std::sqrt(exp_avg_sq_[i]) + eps)) * bc2_sqrt;
        p[i] = p[i] - corrected * lr * adaptive * rect;
      } else {
        p[i] = p[i] - corrected * lr;
      }
    }
  }

 private:
  std::vector<float> exp_avg_, exp_avg_sq_;
};

}  // namespace mnist
