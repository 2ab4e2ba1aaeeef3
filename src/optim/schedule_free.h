#pragma once
#include <algorithm>
#include <cmath>

#include "optim/optimizer.h"

namespace mnist {

// Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less
// Scheduled"; facebookresearch/schedule_free, the *_reference.py optimizers).
// Three sequences: z takes the base optimizer's steps, x is a weighted
// average of the z's, and the gradient is taken at y, between the two:
//   lr_max = max(lr_max, lr_t),  w = (k + 1)^r * lr_max^weight_lr_power
//   c = w / (sum of the w so far)                   (c = 1 at the first step)
//   z = z - lr_t * (step of the base optimizer at y)
//   x = (1 - c) * x + c * z
//   y = beta * x + (1 - beta) * z                   (the weights trained)
// Averaging replaces the decaying schedule: no run length needs to be known,
// and x is as good as a tuned schedule's end point at any time. Evaluation,
// eval, predict and saved weights use x (eval_point); training continues
// from y and z. The only schedule is a linear warm-up (--warmup-steps),
// which the reference applies to lr_t exactly as our schedules do.
class ScheduleFree : public TensorwiseOptimizer {
 public:
  ScheduleFree(const OptimizerConfig& c, std::vector<ParamTensor> t) : TensorwiseOptimizer(c, std::move(t)) {
    z_ = zeros();
    x_ = zeros();
  }
  std::vector<StateScalar> state_scalars() override { return {{"lr_max", &lr_max_}, {"weight_sum", &weight_sum_}}; }
  bool has_eval_point() const override { return true; }
  void eval_point(std::span<const float> params, std::span<float> out) const override {
    if (steps_ == 0) return Optimizer::eval_point(params, out);
    std::copy(x_.begin(), x_.end(), out.begin());
  }

 protected:
  // The step's lr_t (the scheduled lr, times AdamW's bias correction) and
  // the weight c of the new z in the average.
  void average_weight(std::span<const float> params, double lr_t) {
    if (steps_ == 0) {
      std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(size_), z_.begin());
      std::copy(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(size_), x_.begin());
    }
    lr_t_ = lr_t;
    lr_max_ = std::max(lr_t, lr_max_);
    const double weight = std::pow(static_cast<double>(steps_ + 1), config_.get("r")) *
                          std::pow(lr_max_, config_.get("weight_lr_power"));
    weight_sum_ += weight;
    ckp1_ = weight_sum_ != 0 ? weight / weight_sum_ : 0.0;
  }
  // x and y (into p) from the new z.
  void average(float* p, size_t i, float beta) {
    const auto c = static_cast<float>(ckp1_), keep = static_cast<float>(1 - ckp1_), rest = 1.0f - beta;
    x_[i] = x_[i] * keep + c * z_[i];
    p[i] = x_[i] * beta + rest * z_[i];
  }

  std::vector<float> z_, x_;
  double lr_max_ = -1, weight_sum_ = 0;  // as the reference starts them
  double lr_t_ = 0, ckp1_ = 0;           // this step's
};

// Schedule-Free SGD, after the shared L2 pass at y (g = g + wd * y):
//   z = z - lr_t * g, with beta = momentum.
class SgdScheduleFree final : public ScheduleFree {
 public:
  using ScheduleFree::ScheduleFree;
  std::vector<StateBuffer> state_buffers() override { return {{"z", &z_}, {"x", &x_}}; }

 protected:
  void begin_step(std::span<const float> params, double lr) override { average_weight(params, lr); }
  void update(float* p, const float* grad, size_t begin, size_t end, double) override {
    const auto lr = static_cast<float>(lr_t_), beta = static_cast<float>(config_.get("momentum"));
    for (size_t i = begin; i < end; ++i) {
      z_[i] = z_[i] - lr * grad[i];
      average(p, i, beta);
    }
  }
};

// Schedule-Free AdamW, with its own decoupled decay (at y, or at z with
// --decay-at-z) and no first moment (beta1 is the y interpolation):
//   lr_t = lr * sqrt(1 - beta2^(k+1))     (the bias correction, in the rate)
//   z = z - lr_t * wd * y
//   v = beta2 * v + (1 - beta2) * g^2
//   z = z - lr_t * g / (sqrt(v) + eps),   with beta = beta1.
class AdamWScheduleFree final : public ScheduleFree {
 public:
  AdamWScheduleFree(const OptimizerConfig& c, std::vector<ParamTensor> t) : ScheduleFree(c, std::move(t)) {
    exp_avg_sq_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    return {{"z", &z_}, {"x", &x_}, {"exp_avg_sq", &exp_avg_sq_}};
  }

 protected:
  void begin_step(std::span<const float> params, double lr) override {
    const double b2 = config_.get("betas", 1);
    average_weight(params, lr * std::sqrt(1 - std::pow(b2, static_cast<double>(steps_ + 1))));
  }
  void update(float* p, const float* grad, size_t begin, size_t end, double) override {
    const double b2 = config_.get("betas", 1);
    const auto beta1 = static_cast<float>(config_.get("betas", 0)), beta2 = static_cast<float>(b2);
    const auto rest2 = static_cast<float>(1 - b2), eps = static_cast<float>(config_.get("eps"));
    const auto lr = static_cast<float>(lr_t_);
    const bool at_z = config_.on("decay_at_z");
    const auto decay = static_cast<float>(lr_t_ * decay_of(current_tensor()));
    for (size_t i = begin; i < end; ++i) {
      if (decay != 0) z_[i] = z_[i] - decay * (at_z ? z_[i] : p[i]);
      const float g = grad[i];
      exp_avg_sq_[i] = exp_avg_sq_[i] * beta2 + rest2 * g * g;
      z_[i] = z_[i] - lr * (g / (std::sqrt(exp_avg_sq_[i]) + eps));
      average(p, i, beta1);
    }
  }

 private:
  std::vector<float> exp_avg_sq_;
};

}  // namespace mnist
