#pragma once
#include "optim/optimizer.h"

namespace mnist {

// SGD (torch.optim.SGD), after the shared L2 pass (g = grad + wd * p):
//   with momentum mu:  b = g on the first step, else b = mu * b + (1 - dampening) * g
//                      g = g + mu * b (nesterov)  or  g = b
//   p = p - lr * g
// Momentum keeps a running direction: components that flip sign from batch
// to batch cancel in b, while a steady slope builds up speed (up to 1/(1-mu)).
class Sgd final : public TensorwiseOptimizer {
 public:
  Sgd(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    if (config_.get("momentum") != 0) buf_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    if (buf_.empty()) return {};
    return {{"momentum_buffer", &buf_}};
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d) override {
    const auto lr = static_cast<float>(lr_d);
    const auto mu = static_cast<float>(config_.get("momentum"));
    const auto keep = static_cast<float>(1.0 - config_.get("dampening"));
    const bool first = steps_ == 0, nesterov = config_.on("nesterov");
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (mu != 0) {
        buf_[i] = first ? g : buf_[i] * mu + keep * g;
        g = nesterov ? g + mu * buf_[i] : buf_[i];
      }
      p[i] = p[i] - lr * g;
    }
  }

 private:
  std::vector<float> buf_;
};

}  // namespace mnist
