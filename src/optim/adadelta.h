#pragma once
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// Adadelta (torch.optim.Adadelta; Zeiler 2012), after the shared L2 pass:
//   v = rho * v + (1 - rho) * g^2
//   delta = sqrt(u + eps) / sqrt(v + eps) * g
//   u = rho * u + (1 - rho) * delta^2
//   p = p - lr * delta
// The step carries its own units: the ratio of recent update size to recent
// gradient size, so lr = 1 works without tuning.
class Adadelta final : public TensorwiseOptimizer {
 public:
  Adadelta(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    square_avg_ = zeros();
    acc_delta_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    return {{"square_avg", &square_avg_}, {"acc_delta", &acc_delta_}};
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d) override {
    const auto lr = static_cast<float>(lr_d);
    const double r = config_.get("rho");
    const auto rho = static_cast<float>(r), rest = static_cast<float>(1.0 - r);
    const auto eps = static_cast<float>(config_.get("eps"));
    for (size_t i = begin; i < end; ++i) {
      const float g = grad[i];
      square_avg_[i] = square_avg_[i] * rho + rest * g * g;
      const float std_dev = std::sqrt(square_avg_[i] + eps);
      const float delta = std::sqrt(acc_delta_[i] + eps) / std_dev * g;
      acc_delta_[i] = acc_delta_[i] * rho + rest * delta * delta;
      p[i] = p[i] - lr * delta;
    }
  }

 private:
  std::vector<float> square_avg_, acc_delta_;
};

}  // namespace mnist
