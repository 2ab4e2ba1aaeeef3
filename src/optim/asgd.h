#pragma once
#include <algorithm>
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// ASGD, averaged SGD (torch.optim.ASGD of PyTorch 1.13; Polyak & Juditsky
// 1992), t = 1, 2, ..., after the shared L2 pass, with eta = lr and mu = 1
// at the start:
//   p  = p * (1 - lambd * eta) - eta * g
//   ax = ax + mu * (p - ax)          (ax = p while mu = 1)
//   eta = lr / (1 + lambd * lr * t)^alpha
//   mu  = 1 / max(1, t - t0)
// SGD with a slowly decaying step, whose iterates are averaged from step t0
// on: the average ax settles where the noisy iterates only circle. It is
// the point that is evaluated and saved (eval_point); training continues
// from p. eta and mu are float32 numbers, as torch keeps them, and each
// step's eta comes from the previous step's lr, as in torch.
class Asgd final : public TensorwiseOptimizer {
 public:
  Asgd(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) { ax_ = zeros(); }
  std::vector<StateBuffer> state_buffers() override { return {{"ax", &ax_}}; }
  std::vector<StateScalar> state_scalars() override { return {{"eta", &eta_}, {"mu", &mu_}}; }
  bool has_eval_point() const override { return true; }
  void eval_point(std::span<const float> params, std::span<float> out) const override {
    if (steps_ == 0) return Optimizer::eval_point(params, out);  // nothing averaged yet
    std::copy(ax_.begin(), ax_.end(), out.begin());
  }

 protected:
  void begin_step(std::span<const float>, double lr) override {
    if (steps_ == 0) eta_ = static_cast<float>(lr);  // torch: state['eta'] = lr at the first step
  }

  void update(float* p, const float* grad, size_t begin, size_t end, double) override {
    const auto shrink = static_cast<float>(1 - config_.get("lambd") * eta_);
    const auto step = static_cast<float>(-eta_);
    const auto mu = static_cast<float>(mu_);
    for (size_t i = begin; i < end; ++i) {
      p[i] = p[i] * shrink;
      p[i] = p[i] + step * grad[i];
      ax_[i] = mu != 1 ? ax_[i] + (p[i] - ax_[i]) * mu : p[i];
    }
  }

  void end_step(double lr) override {
    const auto t = static_cast<double>(steps_ + 1);
    const double lambd = config_.get("lambd"), alpha = config_.get("alpha"), t0 = config_.get("t0");
    eta_ = static_cast<float>(lr / std::pow(1 + lambd * lr * t, alpha));
    mu_ = static_cast<float>(1 / std::max(1.0, t - t0));
  }

 private:
  std::vector<float> ax_;
  double eta_ = 0, mu_ = 1;  // float32 values
};

}  // namespace mnist
