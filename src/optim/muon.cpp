#include "optim/muon.h"

#include <algorithm>
#include <cmath>

#include "kernels/blas.h"

namespace mnist {

namespace {

// torch.lerp: start + w (end - start), computed from the end for w >= 0.5.
float lerp(float start, float end, float w) {
  return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

bool is_matrix(const ParamTensor& t) { return t.shape.size() >= 2; }

}  // namespace

Muon::Muon(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
  momentum_buffer_ = zeros();
  exp_avg_ = zeros();
  exp_avg_sq_ = zeros();
  size_t largest = 0;
  for (const ParamTensor& tensor : tensors_) largest = std::max(largest, tensor.size);
  update_.resize(largest);
}

std::vector<StateBuffer> Muon::state_buffers() {
  return {{"momentum_buffer", &momentum_buffer_}, {"exp_avg", &exp_avg_}, {"exp_avg_sq", &exp_avg_sq_}};
}

// The quintic Newton-Schulz iteration on u (rows x cols, row-major) into out.
void Muon::orthogonalise(const float* u, size_t rows, size_t cols, float* out) {
  const bool transposed = rows > cols;
  const size_t a_dim = transposed ? cols : rows, b_dim = transposed ? rows : cols;  // X is a_dim x b_dim, a <= b
  x_.resize(a_dim * b_dim);
  double frobenius = 0;
  for (size_t i = 0; i < rows * cols; ++i) frobenius += static_cast<double>(u[i]) * u[i];
  const double scale = 1 / std::max(std::sqrt(frobenius), config_.get("eps"));
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; ++j) {
      const double v = u[i * cols + j] * scale;
      if (transposed) x_[j * b_dim + i] = v; else x_[i * cols + j] = v;
    }
  }
  const double a = config_.get("ns_coefficients", 0), b = config_.get("ns_coefficients", 1);
  const double c = config_.get("ns_coefficients", 2);
  const int m = static_cast<int>(a_dim), n = static_cast<int>(b_dim);
  gram_.resize(a_dim * a_dim);
  gram2_.resize(a_dim * a_dim);
  next_.resize(a_dim * b_dim);
  for (int step = 0; step < static_cast<int>(config_.get("ns_steps")); ++step) {
    gemm<double>(false, true, m, m, n, 1.0, x_.data(), n, x_.data(), n, 0.0, gram_.data(), m);        // S = X X^T
    gram2_ = gram_;
    gemm<double>(false, false, m, m, m, c, gram_.data(), m, gram_.data(), m, b, gram2_.data(), m);    // T = b S + c S S
    next_ = x_;
    gemm<double>(false, false, m, n, m, 1.0, gram2_.data(), m, x_.data(), n, a, next_.data(), n);     // X = a X + T X
    x_.swap(next_);
  }
  for (size_t i = 0; i < rows; ++i) {
    for (size_t j = 0; j < cols; ++j) {
      out[i * cols + j] = static_cast<float>(transposed ? x_[j * b_dim + i] : x_[i * cols + j]);
    }
  }
}

// torch.optim.AdamW's step on one tensor, the decay already applied.
void Muon::adamw(float* p, const float* g, size_t n, double lr, float* m, float* v) const {
  const double b1 = config_.get("adamw_betas", 0), b2 = config_.get("adamw_betas", 1);
  const auto t = static_cast<double>(steps_ + 1);
  const auto step_size = static_cast<float>(lr / (1 - std::pow(b1, t)));
  const auto bc2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(b2, t)));
  const auto beta1 = static_cast<float>(b1), beta2 = static_cast<float>(b2);
  const auto rest1 = static_cast<float>(1 - b1), rest2 = static_cast<float>(1 - b2);
  const auto eps = static_cast<float>(config_.get("adamw_eps"));
  for (size_t i = 0; i < n; ++i) {
    m[i] = m[i] * beta1 + rest1 * g[i];
    v[i] = v[i] * beta2 + rest2 * g[i] * g[i];
    p[i] = p[i] - step_size * (m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps));
  }
}

void Muon::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) {
  const auto mu = static_cast<float>(config_.get("momentum"));
  const bool nesterov = config_.on("nesterov");
  const bool match_adamw = config_.get("adjust_lr_fn") == 1;
  for (const ParamTensor& tensor : tensors_) {
    float* p = params.data() + tensor.offset;
    const float* g = grads.data() + tensor.offset;
    if (const double wd = decay_of(tensor); wd != 0) {
      const auto shrink = static_cast<float>(1 - lr * wd);
      for (size_t i = 0; i < tensor.size; ++i) p[i] = p[i] * shrink;
    }
    if (!is_matrix(tensor)) {
      adamw(p, g, tensor.size, lr, exp_avg_.data() + tensor.offset, exp_avg_sq_.data() + tensor.offset);
      continue;
    }
    float* buf = momentum_buffer_.data() + tensor.offset;
    float* u = update_.data();
    for (size_t i = 0; i < tensor.size; ++i) {
      buf[i] = lerp(buf[i], g[i], 1.0f - mu);
      u[i] = nesterov ? lerp(g[i], buf[i], mu) : buf[i];
    }
    const auto rows = static_cast<size_t>(tensor.shape[0]), cols = tensor.size / rows;
    orthogonalise(u, rows, cols, u);
    const auto A = static_cast<double>(rows), B = static_cast<double>(cols);
    const double adjusted = match_adamw ? lr * 0.2 * std::sqrt(std::max(A, B)) : lr * std::sqrt(std::max(1.0, A / B));
    const auto step = static_cast<float>(-adjusted);
    for (size_t i = 0; i < tensor.size; ++i) p[i] = p[i] + step * u[i];
  }
}

}  // namespace mnist
