#include "optim/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "util/error.h"
#include "util/options.h"

namespace mnist {

Optimizer::Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors)
    : config_(config), tensors_(std::move(tensors)) {
  for (const auto& t : tensors_) size_ = std::max(size_, t.offset + t.size);
}

void Optimizer::step(std::span<float> params, std::span<const float> grads, double lr) {
  const double wd = config_.weight_decay.value_or(0.0);
  for (const auto& t : tensors_) {
    update(params.data(), grads.data(), t.offset, t.offset + t.size, lr,
           t.is_bias && !config_.decay_biases ? 0.0 : wd);
  }
  ++steps_;
}

namespace {

// SGD (torch.optim.SGD):
//   g = grad + wd * p
//   with momentum mu:  b = g on the first step, else b = mu * b + (1 - dampening) * g
//                      g = g + mu * b (nesterov)  or  g = b
//   p = p - lr * g
// Momentum keeps a running direction: components that flip sign from batch
// to batch cancel in b, while a steady slope builds up speed (up to 1/(1-mu)).
class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
    if (*config_.momentum != 0) buf_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    if (buf_.empty()) return {};
    return {{"momentum_buffer", &buf_}};
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d, double wd_d) override {
    const auto lr = static_cast<float>(lr_d), wd = static_cast<float>(wd_d);
    const auto mu = static_cast<float>(*config_.momentum);
    const auto keep = static_cast<float>(1.0 - *config_.dampening);
    const bool first = steps_ == 0, nesterov = config_.nesterov;
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (wd != 0) g = g + wd * p[i];
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

// AdaGrad (torch.optim.Adagrad):
//   g = grad + wd * p
//   sum = sum + g^2                      (sum starts at initial_accumulator)
//   p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)      t = 1, 2, ...
// Each weight gets its own step size, large for rarely-moved weights and
// small for busy ones. The sum only grows, so every step size shrinks for
// ever: AdaGrad can stall before it arrives.
class Adagrad final : public Optimizer {
 public:
  Adagrad(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
    sum_.assign(size_, static_cast<float>(*config_.initial_accumulator));
  }
  std::vector<StateBuffer> state_buffers() override { return {{"sum", &sum_}}; }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr, double wd_d) override {
    const auto clr = static_cast<float>(lr / (1 + static_cast<double>(steps_) * *config_.lr_decay));
    const auto wd = static_cast<float>(wd_d), eps = static_cast<float>(*config_.eps);
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (wd != 0) g = g + wd * p[i];
      sum_[i] = sum_[i] + g * g;
      p[i] = p[i] - clr * (g / (std::sqrt(sum_[i]) + eps));
    }
  }

 private:
  std::vector<float> sum_;
};

// RMSProp (torch.optim.RMSprop):
//   g = grad + wd * p
//   v = alpha * v + (1 - alpha) * g^2
//   centered:  m = alpha * m + (1 - alpha) * g,  d = sqrt(v - m^2) + eps
//   otherwise: d = sqrt(v) + eps
//   with momentum mu: b = mu * b + g / d,  p = p - lr * b
//   otherwise:        p = p - lr * g / d
// AdaGrad's sum replaced by a moving average: old gradients are forgotten,
// so the step size adapts to the recent scale instead of shrinking for ever.
class RmsProp final : public Optimizer {
 public:
  RmsProp(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
    square_avg_ = zeros();
    if (config_.centered) grad_avg_ = zeros();
    if (*config_.momentum > 0) buf_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    std::vector<StateBuffer> out = {{"square_avg", &square_avg_}};
    if (!grad_avg_.empty()) out.push_back({"grad_avg", &grad_avg_});
    if (!buf_.empty()) out.push_back({"momentum_buffer", &buf_});
    return out;
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d, double wd_d) override {
    const auto lr = static_cast<float>(lr_d), wd = static_cast<float>(wd_d);
    const auto alpha = static_cast<float>(*config_.alpha), rest = static_cast<float>(1.0 - *config_.alpha);
    const auto eps = static_cast<float>(*config_.eps), mu = static_cast<float>(*config_.momentum);
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (wd != 0) g = g + wd * p[i];
      square_avg_[i] = square_avg_[i] * alpha + rest * g * g;
      float avg;
      if (config_.centered) {
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

// Adadelta (torch.optim.Adadelta):
//   g = grad + wd * p
//   v = rho * v + (1 - rho) * g^2
//   delta = sqrt(u + eps) / sqrt(v + eps) * g
//   u = rho * u + (1 - rho) * delta^2
//   p = p - lr * delta
// The step carries its own units: the ratio of recent update size to recent
// gradient size, so lr = 1 works without tuning.
class Adadelta final : public Optimizer {
 public:
  Adadelta(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
    square_avg_ = zeros();
    acc_delta_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    return {{"square_avg", &square_avg_}, {"acc_delta", &acc_delta_}};
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr_d, double wd_d) override {
    const auto lr = static_cast<float>(lr_d), wd = static_cast<float>(wd_d);
    const auto rho = static_cast<float>(*config_.rho), rest = static_cast<float>(1.0 - *config_.rho);
    const auto eps = static_cast<float>(*config_.eps);
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (wd != 0) g = g + wd * p[i];
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

// Adam (torch.optim.Adam) and AdamW (torch.optim.AdamW), t = 1, 2, ...:
//   adam:  g = grad + wd * p          adamw:  p = p * (1 - lr * wd)
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g^2
//   amsgrad: v_max = max(v_max, v), used for v below
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Momentum (m) and RMSProp's scaling (v) together. The bias corrections undo
// the pull towards 0 of averages that start at 0. AdamW decays the weights
// directly instead of through the gradient, so decay is not rescaled by v.
class Adam final : public Optimizer {
 public:
  Adam(const OptimizerConfig& c, std::vector<ParamTensor> t, bool decoupled)
      : Optimizer(c, std::move(t)), decoupled_(decoupled) {
    exp_avg_ = zeros();
    exp_avg_sq_ = zeros();
    if (config_.amsgrad) max_exp_avg_sq_ = zeros();
  }
  std::vector<StateBuffer> state_buffers() override {
    std::vector<StateBuffer> out = {{"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
    if (!max_exp_avg_sq_.empty()) out.push_back({"max_exp_avg_sq", &max_exp_avg_sq_});
    return out;
  }

 protected:
  void update(float* p, const float* grad, size_t begin, size_t end, double lr, double wd_d) override {
    const double b1 = *config_.beta1, b2 = *config_.beta2;
    const auto t = static_cast<double>(steps_ + 1);
    const auto step_size = static_cast<float>(lr / (1 - std::pow(b1, t)));
    const auto bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(b2, t)));
    const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
    const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
    const auto eps = static_cast<float>(*config_.eps);
    const auto wd = static_cast<float>(wd_d), shrink = static_cast<float>(1 - lr * wd_d);
    const bool amsgrad = config_.amsgrad;
    for (size_t i = begin; i < end; ++i) {
      float g = grad[i];
      if (decoupled_) {
        p[i] = p[i] * shrink;
      } else if (wd != 0) {
        g = g + wd * p[i];
      }
      exp_avg_[i] = exp_avg_[i] * beta1 + rest1 * g;
      exp_avg_sq_[i] = exp_avg_sq_[i] * beta2 + rest2 * g * g;
      float v = exp_avg_sq_[i];
      if (amsgrad) v = max_exp_avg_sq_[i] = std::max(max_exp_avg_sq_[i], v);
      const float denom = std::sqrt(v) / bc2_sqrt + eps;
      p[i] = p[i] - step_size * (exp_avg_[i] / denom);
    }
  }

 private:
  bool decoupled_;
  std::vector<float> exp_avg_, exp_avg_sq_, max_exp_avg_sq_;
};

struct Defaults {
  const char* name;
  double lr;
};
// Learning rates when --lr is not given: the course's 0.01 for sgd and
// momentum, PyTorch's for the rest.
constexpr Defaults kDefaults[] = {{"sgd", 0.01},      {"momentum", 0.01}, {"adagrad", 0.01},
                                  {"rmsprop", 0.01},  {"adadelta", 1.0},  {"adam", 0.001},
                                  {"adamw", 0.001}};

}  // namespace

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& d : kDefaults) v.emplace_back(d.name);
    return v;
  }();
  return names;
}

OptimizerConfig OptimizerConfig::resolved() const {
  OptimizerConfig c = *this;
  const Defaults* d = nullptr;
  for (const auto& entry : kDefaults) {
    if (c.name == entry.name) d = &entry;
  }
  require(d != nullptr, fmt::format("--optimizer: unknown optimizer '{}' (choose {})", c.name,
                                    fmt::join(optimizer_names(), ", ")));
  const std::string& n = c.name;
  const std::string subject = "--optimizer " + n;
  const bool sgd = n == "sgd" || n == "momentum", adam = n == "adam" || n == "adamw";
  settle(c.lr, true, d->lr, "--lr", subject);
  require(*c.lr >= 0, fmt::format("--lr: learning rate must be >= 0, got {}", *c.lr));
  settle(c.weight_decay, true, n == "adamw" ? 0.01 : 0.0, "--weight-decay", subject);
  require(*c.weight_decay >= 0, fmt::format("--weight-decay: must be >= 0, got {}", *c.weight_decay));
  settle(c.momentum, sgd || n == "rmsprop", n == "momentum" ? 0.9 : 0.0, "--momentum", subject);
  if (c.momentum) require(*c.momentum >= 0, fmt::format("--momentum: must be >= 0, got {}", *c.momentum));
  if (c.momentum && n == "momentum") {
    require(*c.momentum > 0, "--momentum: must be > 0 for --optimizer momentum (use sgd for none)");
  }
  settle(c.dampening, sgd, 0.0, "--dampening", subject);
  if (c.dampening) {
    require(*c.dampening >= 0 && *c.dampening <= 1, fmt::format("--dampening: must be in [0, 1], got {}", *c.dampening));
  }
  check_flag(c.nesterov, sgd, "--nesterov", subject);
  if (c.nesterov) {
    require(*c.momentum > 0 && *c.dampening == 0, "--nesterov: needs --momentum > 0 and --dampening 0");
  }
  settle(c.lr_decay, n == "adagrad", 0.0, "--lr-decay", subject);
  if (c.lr_decay) require(*c.lr_decay >= 0, fmt::format("--lr-decay: must be >= 0, got {}", *c.lr_decay));
  settle(c.initial_accumulator, n == "adagrad", 0.0, "--initial-accumulator", subject);
  if (c.initial_accumulator) {
    require(*c.initial_accumulator >= 0,
            fmt::format("--initial-accumulator: must be >= 0, got {}", *c.initial_accumulator));
  }
  settle(c.alpha, n == "rmsprop", 0.99, "--alpha", subject);
  if (c.alpha) require(*c.alpha >= 0 && *c.alpha < 1, fmt::format("--alpha: must be in [0, 1), got {}", *c.alpha));
  check_flag(c.centered, n == "rmsprop", "--centered", subject);
  settle(c.rho, n == "adadelta", 0.9, "--rho", subject);
  if (c.rho) require(*c.rho >= 0 && *c.rho <= 1, fmt::format("--rho: must be in [0, 1], got {}", *c.rho));
  settle(c.beta1, adam, 0.9, "--beta1", subject);
  settle(c.beta2, adam, 0.999, "--beta2", subject);
  if (adam) {
    require(*c.beta1 >= 0 && *c.beta1 < 1, fmt::format("--beta1: must be in [0, 1), got {}", *c.beta1));
    require(*c.beta2 >= 0 && *c.beta2 < 1, fmt::format("--beta2: must be in [0, 1), got {}", *c.beta2));
  }
  check_flag(c.amsgrad, adam, "--amsgrad", subject);
  settle(c.eps, !sgd, n == "adagrad" ? 1e-10 : n == "adadelta" ? 1e-6 : 1e-8, "--eps", subject);
  if (c.eps) require(*c.eps >= 0, fmt::format("--eps: must be >= 0, got {}", *c.eps));
  return c;
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const std::vector<ParamTensor>& tensors) {
  const OptimizerConfig c = config.resolved();
  if (c.name == "sgd" || c.name == "momentum") return std::make_unique<Sgd>(c, tensors);
  if (c.name == "adagrad") return std::make_unique<Adagrad>(c, tensors);
  if (c.name == "rmsprop") return std::make_unique<RmsProp>(c, tensors);
  if (c.name == "adadelta") return std::make_unique<Adadelta>(c, tensors);
  return std::make_unique<Adam>(c, tensors, c.name == "adamw");
}

}  // namespace mnist
