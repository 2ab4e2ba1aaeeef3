#include "optim/prodigy.h"

#include <algorithm>
#include <cmath>

namespace mnist {

Prodigy::Prodigy(const OptimizerConfig& c, std::vector<ParamTensor> t)
    : Optimizer(c, std::move(t)), d_(config_.get("d0")), d_max_(config_.get("d0")) {
  p0_ = zeros();
  s_ = zeros();
  exp_avg_ = zeros();
  exp_avg_sq_ = zeros();
}

std::vector<StateBuffer> Prodigy::state_buffers() {
  return {{"p0", &p0_}, {"s", &s_}, {"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
}

std::vector<StateScalar> Prodigy::state_scalars() {
  return {{"d", &d_}, {"d_max", &d_max_}, {"d_numerator", &d_numerator_}, {"k", &k_}};
}

void Prodigy::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) {
  const double beta1 = config_.get("betas", 0), beta2 = config_.get("betas", 1);
  const double beta3 = config_.hypers.has("beta3") ? config_.get("beta3") : std::sqrt(beta2);
  const double d0 = config_.get("d0"), eps = config_.get("eps");
  const bool decouple = config_.on("decouple"), safeguard = config_.on("safeguard_warmup");
  if (steps_ == 0) std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(size_), p0_.begin());
  const double bias_correction = config_.on("use_bias_correction")
                                     ? std::sqrt(1 - std::pow(beta2, k_ + 1)) / (1 - std::pow(beta1, k_ + 1))
                                     : 1.0;
  const double d = d_, dlr = d * lr * bias_correction;
  // The gradient used below: with L2 decay (--no-decouple) its own copy.
  const float* g = grads.data();
  if (!decouple) {
    decayed_.assign(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(size_));
    for (const ParamTensor& t : tensors_) {
      const auto wd = static_cast<float>(decay_of(t));
      if (wd == 0) continue;
      for (size_t i = t.offset; i < t.offset + t.size; ++i) decayed_[i] = decayed_[i] + wd * params[i];
    }
    g = decayed_.data();
  }
  // The moments and the sums that estimate the distance, in the old d.
  const auto b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2), b3 = static_cast<float>(beta3);
  const auto m_scale = static_cast<float>(d * (1 - beta1)), v_scale = static_cast<float>(d * d * (1 - beta2));
  const auto s_scale = static_cast<float>(safeguard ? (d / d0) * d : (d / d0) * dlr);
  double delta_numerator = 0, d_denom = 0;
  for (const ParamTensor& t : tensors_) {
    double dot = 0, s_sum = 0;
    for (size_t i = t.offset; i < t.offset + t.size; ++i) {
      dot += static_cast<double>(g[i]) * (static_cast<double>(p0_[i]) - params[i]);
      if (beta1 > 0) exp_avg_[i] = exp_avg_[i] * b1 + m_scale * g[i];
      exp_avg_sq_[i] = exp_avg_sq_[i] * b2 + v_scale * g[i] * g[i];
      s_[i] = s_[i] * b3 + s_scale * g[i];
      s_sum += std::abs(s_[i]);
    }
    delta_numerator += (d / d0) * dlr * dot;
    d_denom += s_sum;
  }
  if (d_denom == 0) return;  // no gradient yet: nothing to estimate from (as the reference)
  d_numerator_ = d_numerator_ * beta3 + delta_numerator;
  const double d_hat = config_.get("d_coef") * d_numerator_ / d_denom;
  double next = d;
  if (d == d0) next = std::max(d, d_hat);
  d_max_ = std::max(d_max_, d_hat);
  d_ = std::min(d_max_, next * config_.get("growth_rate"));
  // The update, with the new d in the denominator and the old one in dlr.
  const auto d_eps = static_cast<float>(d_ * eps), step = static_cast<float>(-dlr);
  const auto plain_step = static_cast<float>(-dlr * d_);
  for (const ParamTensor& t : tensors_) {
    const double wd = decay_of(t);
    const auto shrink = static_cast<float>(-wd * dlr);
    for (size_t i = t.offset; i < t.offset + t.size; ++i) {
      const float denom = std::sqrt(exp_avg_sq_[i]) + d_eps;
      if (decouple && wd != 0) params[i] = params[i] + params[i] * shrink;
      params[i] = beta1 > 0 ? params[i] + step * exp_avg_[i] / denom : params[i] + plain_step * (g[i] / denom);
    }
  }
  k_ += 1;
}

}  // namespace mnist
