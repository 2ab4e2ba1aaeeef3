#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// Adamax (torch.optim.Adamax of PyTorch 1.13; Kingma & Ba 2015, section 7.1),
// t = 1, 2, ..., after the shared L2 pass:
//   m = beta1 * m + (1 - beta1) * g
//   u = max(beta2 * u, |g| + eps)
//   p = p - lr / (1 - beta1^t) * m / u
// Adam with the L2 norm of past gradients replaced by the infinity norm: u
// is a decaying maximum of |g|, so one large gradient sets the scale for a
// while instead of being averaged away. u needs no bias correction.
class Adamax final : public TensorwiseOptimizer {
 public:
  Adamax(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    exp_avg_ = zeros();
    exp_inf_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override { return {{"exp_avg", &exp_avg_}, {"exp_inf", &exp_inf_}}; }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr) override {
    const double b1 = config_.get("betas", 0), b2 = config_.get("betas", 1);
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2), rest1 = static_cast<float>(1 - b1);
    const auto eps = static_cast<float>(config_.get("eps"));
    const auto step = static_cast<float>(-(lr / (1 - std::pow(b1, static_cast<double>(steps_ + 1)))));
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      exp_avg_[i] = exp_avg_[i] * beta1 + rest1 * g;
      const float decayed = exp_inf_[i] * beta2, fresh = std::abs(g) + eps;
      // torch.amax: NaN wins.
      exp_inf_[i] = std::isnan(decayed) || std::isnan(fresh) ? NAN : std::max(decayed, fresh);
      p[i] = p[i] + step * exp_avg_[i] / exp_inf_[i];
    }
  }

 private:
  std::vector<float> exp_avg_, exp_inf_;
};

}  // namespace mnist
