#include "optim/dog.h"

#include <algorithm>
#include <cmath>


namespace mnist {

DoG::DoG(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
  x0_ = zeros();
  average_ = zeros();
}

std::vector<StateBuffer> DoG::state_buffers() { return {{"x0", &x0_}, {"x_avg", &average_}}; }

std::vector<StateScalar> DoG::state_scalars() { return {{"rbar", &rbar_}, {"G", &g_sum_}}; }

void DoG::eval_point(std::span<const float> params, std::span<float> out) const {
  if (steps_ == 0) return Optimizer::eval_point(params, out);
  std::copy(average_.begin(), average_.end(), out.begin());
}

void DoG::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) {
  const size_t n = size_;
  // The gradient with L2 decay, when there is any.
  const float* g = grads.data();
  const bool decays = std::any_of(tensors_.begin(), tensors_.end(), [&](const ParamTensor& t) { return decay_of(t) > 0; });
  if (decays) {
    decayed_.assign(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(n));
    for (const ParamTensor& t : tensors_) {
      const auto wd = static_cast<float>(decay_of(t));
      if (wd <= 0) continue;
      for (size_t i = t.offset; i < t.offset + t.size; ++i) decayed_[i] = decayed_[i] + wd * params[i];
    }
    g = decayed_.data();
  }
  double g_squares = 0;
  for (size_t i = 0; i < n; ++i) g_squares += static_cast<double>(g[i]) * g[i];
  const bool first = steps_ == 0;
  const bool given_eta = config_.hypers.has("init_eta");
  if (first) {
    std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(n), x0_.begin());
    std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(n), average_.begin());
    double x_squares = 0;
    for (size_t i = 0; i < n; ++i) x_squares += static_cast<double>(params[i]) * params[i];
    rbar_ = (given_eta ? 0.0 : config_.get("reps_rel")) * (1 + std::sqrt(x_squares));
    g_sum_ = g_squares + config_.get("eps");
  } else {
    double distance = 0;
    for (size_t i = 0; i < n; ++i) {
      const double delta = static_cast<double>(params[i]) - x0_[i];
      distance += delta * delta;
    }
    rbar_ = std::max(rbar_, std::sqrt(distance));
    g_sum_ += g_squares;
  }
  // A gradient that is not finite makes eta NaN, and the run's divergence
  // check reports it (the reference raises instead).
  const double eta = first && given_eta ? config_.get("init_eta") : lr * rbar_ / std::sqrt(g_sum_);
  const auto step = static_cast<float>(-eta);
  for (size_t i = 0; i < n; ++i) params[i] = params[i] + step * g[i];
  // The polynomial-decay average, t = steps_ + 1 (w = 1 at the first step).
  const double gamma = config_.get("avg_gamma");
  const double w = (gamma + 1) / (gamma + static_cast<double>(steps_ + 1));
  const auto keep = static_cast<float>(1 - w), take = static_cast<float>(w);
  for (size_t i = 0; i < n; ++i) average_[i] = average_[i] * keep + take * params[i];
}

}  // namespace mnist
