#pragma once
#include "optim/optimizer.h"

namespace mnist {

// DoG, "Distance over Gradients" (Ivgi, Hinder & Carmon 2023, "DoG is SGD's
// Best Friend: A Parameter-Free Dynamic Step Size Schedule"; formll/dog,
// class DoG and its PolynomialDecayAverager). Plain SGD whose step size is
//   eta_t = lr * rbar_t / sqrt(G_t)
//   rbar_t = max(rbar_{t-1}, |x_t - x_0|),  rbar_0 = reps_rel * (1 + |x_0|)
//   G_t    = sum over steps of |g|^2          (+ eps at the first step)
// with norms over all weights together, and g = g + wd * x (L2). The step
// grows with the distance travelled and shrinks with the gradients seen:
// no learning rate to tune (lr is a multiplier, 1 by default; --init-eta
// sets the first step instead). Evaluation, eval, predict and saved weights
// use the polynomial-decay average of the iterates (Shamir & Zhang 2013):
//   avg = (1 - w) avg + w x,  w = (gamma + 1) / (gamma + t),  t = 1, 2, ...
// (avg_gamma = 8), which the authors report for their results.
class DoG final : public Optimizer {
 public:
  DoG(const OptimizerConfig& c, std::vector<ParamTensor> t);
  std::vector<StateBuffer> state_buffers() override;
  std::vector<StateScalar> state_scalars() override;
  bool has_eval_point() const override { return true; }
  void eval_point(std::span<const float> params, std::span<float> out) const override;

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) override;

 private:
  std::vector<float> x0_, average_, decayed_;
  double rbar_ = 0, g_sum_ = 0;
};

}  // namespace mnist
