#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// RMSProp (torch.optim.RMSprop; Hinton's Coursera lecture 6e, 2012), after
// the shared L2 pass:
//   v = alpha * v + (1 - alpha) * g^2
//   centered:  m = alpha * m + (1 - alpha) * g,  d = sqrt(v - m^2) + eps
//   otherwise: d = sqrt(v) + eps
//   with momentum mu: b = mu * b + g / d,  p = p - lr * b
//   otherwise:        p = p - lr * g / d
// AdaGrad's sum replaced by a moving average: old gradients are forgotten,
// so the step size adapts to the recent scale instead of shrinking for ever.
class RmsProp final : public TensorwiseOptimizer {
 public:
  RmsProp(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    square_avg_ = zeros();
    if (config_.on("centered")) grad_avg_ = zeros();
    if (config_.get("momentum") > 0) buf_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    std::vector<StateBuffer> out = {{"square_avg", &square_avg_}};
    if (!grad_avg_.empty()) out.push_back({"grad_avg", &grad_avg_});
    if (!buf_.empty()) out.push_back({"momentum_buffer", &buf_});
    return out;
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d) override {
    const auto lr = static_cast<float>(lr_d);
    const double a = config_.get("alpha");
    const auto alpha = static_cast<float>(a), rest = static_cast<float>(1.0 - a);
    const auto eps = static_cast<float>(config_.get("eps")), mu = static_cast<float>(config_.get("momentum"));
    const bool centered = config_.on("centered");
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      square_avg_[i] = square_avg_[i] * alpha + rest * g * g;
      float avg;
      if (centered) {
        grad_avg_[i] = grad_avg_[i] * alpha + rest * g;
        avg = std::sqrt(square_avg_[i] - grad_avg_[i] * grad_avg_[i]) + eps;
      } else {
        avg = std::sqrt(square_avg_[i]) + eps;
      }
      if (mu > 0) {
        buf_[i] = buf_[i] * mu + g / avg;
        p[i] = p[i] - lr * buf_[i];
      } else {
        p[i] = p[i] - lr * (g / avg);
      }
    }
  }

 private:
  std::vector<float> square_avg_, grad_avg_, buf_;
};

}  // namespace mnist
