#pragma once
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "optim/optimizer.h"

namespace mnist {

// Adam (torch.optim.Adam; Kingma & Ba 2015) and AdamW (torch.optim.AdamW;
// Loshchilov & Hutter 2019), t = 1, 2, ..., after the shared weight-decay
// pass (adam: g = grad + wd * p; adamw: p = p * (1 - lr * wd)):
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   amsgrad: v_max = max(v_max, v), used for v below
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Momentum (m) and RMSProp's scaling (v) together. The bias corrections undo
// the pull towards 0 of averages that start at 0. AdamW decays the weights
// directly instead of through the gradient, so decay is not rescaled by v.
class Adam final : public TensorwiseOptimizer {
 public:
  Adam(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    exp_avg_ = zeros();
    exp_avg_sq_ = zeros();
    if (config_.on("amsgrad")) max_exp_avg_sq_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    std::vector<StateBuffer> out = {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
    if (!max_exp_avg_sq_.empty()) out.push_back({"max_exp_avg_sq", &max_exp_avg_sq_});
    return out;
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr) override {
    const double b1 = config_.get("betas", 0), b2 = config_.get("betas", 1);
    const auto t = static_cast<double>(steps_ + 1);
    const auto step_size = static_cast<float>(lr / (1 - std::pow(b1, t)));
    const auto bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(b2, t)));
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
    const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
    const auto eps = static_cast<float>(config_.get("eps"));
    float *m = exp_avg_.data(), *s = exp_avg_sq_.data(), *s_max = max_exp_avg_sq_.data();
    // One loop per variant, with no test inside, so that the compiler
    // vectorises it (the same operations on each element: the same bits).
    auto loop = [&](auto amsgrad) {
      for (size_t i = begin; i < end; ++i) {
        const float g = grad[i];
        m[i] = m[i] * beta1 + rest1 * g;
        s[i] = s[i] * beta2 + rest2 * g * g;
        float v = s[i];
        if constexpr (decltype(amsgrad)::value) v = s_max[i] = std::max(s_max[i], v);
        const float denom = std::sqrt(v) / bc2_sqrt + eps;
        p[i] = p[i] - step_size * (m[i] / denom);
      }
    };
    if (config_.on("amsgrad")) {
      loop(std::true_type{});
    } else {
      loop(std::false_type{});
    }
  }

 private:
  std::vector<float> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

}  // namespace mnist
