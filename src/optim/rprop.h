#pragma once
#include <algorithm>
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// Rprop, resilient backpropagation (torch.optim.Rprop of PyTorch 1.13;
// Riedmiller & Braun 1993), each weight with its own step size s, which
// starts at lr:
//   c = sign(g * g_prev)
//   c > 0:  s = min(s * eta_plus, step_max)      the slope kept its sign: speed up
//   c < 0:  s = max(s * eta_minus, step_min)     it flipped (a minimum was jumped): slow
//           down, and g = 0 (no move now, and no flip counted next step)
//   p = p - sign(g) * s,   g_prev = g
// Only the gradient's sign is used, never its size, so badly scaled weights
// move at their own pace. Made for full-batch training; with mini-batches the
// signs flip from noise. The learning rate only sets the first step sizes,
// so Rprop takes no schedule.
class Rprop final : public TensorwiseOptimizer {
 public:
  Rprop(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    prev_ = zeros();
    step_size_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override { return {{"prev", &prev_}, {"step_size", &step_size_}}; }

 protected:
  void begin_step(std::span<const float>, double lr) override {
    if (steps_ == 0) std::fill(step_size_.begin(), step_size_.end(), static_cast<float>(lr));
  }

  void update(float* p, const float* grad, size_t begin, size_t end, double) override {
    const auto minus = static_cast<float>(config_.get("etas", 0)), plus = static_cast<float>(config_.get("etas", 1));
    const auto lo = static_cast<float>(config_.get("step_sizes", 0));
    const auto hi = static_cast<float>(config_.get("step_sizes", 1));
    for (size_t i = begin; i < end; ++i) {
      const float c = sign(grad[i] * prev_[i]);
      const float factor = c > 0 ? plus : c < 0 ? minus : 1.0f;
      step_size_[i] = std::clamp(step_size_[i] * factor, lo, hi);
      const float g = factor == minus ? 0.0f : grad[i];
      p[i] = p[i] + -1.0f * sign(g) * step_size_[i];
      prev_[i] = g;
    }
  }

 private:
  // torch.sign: -1, 0 or 1 (NaN stays NaN).
  static float sign(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }
  std::vector<float> prev_, step_size_;
};

}  // namespace mnist
