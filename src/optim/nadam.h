#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// NAdam (torch.optim.NAdam of PyTorch 1.13; Dozat 2016, "Incorporating
// Nesterov Momentum into Adam"), t = 1, 2, ..., after the shared L2 pass:
//   mu_t      = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))
//   mu_{t+1}  = beta1 * (1 - 0.5 * 0.96^((t + 1) * momentum_decay))
//   prod     *= mu_t                     (a float32 number, as torch keeps it)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   d = sqrt(v / (1 - beta2^t)) + eps
//   p = p - lr * (1 - mu_t) / (1 - prod) * g / d
//         - lr * mu_{t+1} / (1 - prod * mu_t * mu_{t+1}) * m / d
// Adam whose momentum looks one step ahead (Nesterov): the update mixes the
// raw gradient with the next step's momentum. The warming momentum schedule
// mu_t starts near beta1/2 and rises to beta1.
// PyTorch 1.13 multiplies mu_t into the second product twice
// (mu_product * mu * mu_next); later versions use mu_product * mu_next.
// This class is exact to 1.13, the version the fixtures come from.
class NAdam final : public TensorwiseOptimizer {
 public:
  NAdam(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    exp_avg_ = zeros();
    exp_avg_sq_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override { return {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}}; }
  std::vector<StateScalar> state_scalars() override { return {{"mu_product", &mu_product_}}; }

 protected:
  void begin_step(std::span<const float>, double lr) override {
    const double b1 = config_.get("betas", 0), decay = config_.get("momentum_decay");
    const auto t = static_cast<double>(steps_ + 1);
    const double mu = b1 * (1 - 0.5 * std::pow(0.96, t * decay));
    const double mu_next = b1 * (1 - 0.5 * std::pow(0.96, (t + 1) * decay));
    const float product = static_cast<float>(mu_product_) * static_cast<float>(mu);
    const float product_next = product * static_cast<float>(mu) * static_cast<float>(mu_next);
    mu_product_ = product;
    grad_scale_ = static_cast<float>(-lr * (1 - mu) / (1 - static_cast<double>(product)));
    avg_scale_ = static_cast<float>(-lr * mu_next / (1 - static_cast<double>(product_next)));
  }

  void update(float* p, const float* grad, size_t begin, size_t end, double) override {
    const double b1 = config_.get("betas", 0), b2 = config_.get("betas", 1);
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
    const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
    const auto bc2 = static_cast<float>(1 - std::pow(b2, static_cast<double>(steps_ + 1)));
    const auto eps = static_cast<float>(config_.get("eps"));
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      exp_avg_[i] = exp_avg_[i] * beta1 + rest1 * g;
      exp_avg_sq_[i] = exp_avg_sq_[i] * beta2 + rest2 * g * g;
      const float denom = std::sqrt(exp_avg_sq_[i] / bc2) + eps;
      p[i] = p[i] + grad_scale_ * g / denom;
      p[i] = p[i] + avg_scale_ * exp_avg_[i] / denom;
    }
  }

 private:
  std::vector<float> exp_avg_, exp_avg_sq_;
  double mu_product_ = 1;  // the product of mu_t over the steps taken (a float32 value, as in torch)
  float grad_scale_ = 0, avg_scale_ = 0;  // this step's
};

}  // namespace mnist
