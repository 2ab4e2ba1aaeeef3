#pragma once
#include "optim/optimizer.h"

namespace mnist {

// Prodigy (Mishchenko & Defazio 2023, "Prodigy: An Expeditiously Adaptive
// Parameter-Free Learner"; konstmish/prodigy prodigyopt/prodigy.py): Adam
// whose step is scaled by d, an estimate of the distance from the start to
// the solution, grown as the run shows how far the weights travel. With
// d0 the first estimate, x0 the starting weights, beta3 = sqrt(beta2) unless
// given, and dlr = d * lr (times Adam's bias correction with
// --use-bias-correction), each step:
//   g = g + wd * p                    (only with --no-decouple)
//   numerator = beta3 * numerator + (d / d0) * dlr * <g, x0 - p>
//   m = beta1 m + d (1 - beta1) g,   v = beta2 v + d^2 (1 - beta2) g^2
//   s = beta3 s + (d / d0) * dlr * g          ((d / d0) * d with --safeguard-warmup)
//   d_hat = d_coef * numerator / |s|_1,  d = min(max(d, d_hat), d * growth_rate)
//   p = p - dlr * wd * p              (decoupled, the default)
//   p = p - dlr * m / (sqrt(v) + d * eps)      (with the new d in the denominator)
// The learning rate stays 1: d sets the scale. d_coef multiplies the
// estimate (the knob to turn, in place of a learning rate).
class Prodigy final : public Optimizer {
 public:
  Prodigy(const OptimizerConfig& c, std::vector<ParamTensor> t);
  std::vector<StateBuffer> state_buffers() override;
  std::vector<StateScalar> state_scalars() override;

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) override;

 private:
  std::vector<float> p0_, s_, exp_avg_, exp_avg_sq_, decayed_;
  double d_, d_max_, d_numerator_ = 0, k_ = 0;  // k: the steps that updated (a step with s = 0 does not)
};

}  // namespace mnist
