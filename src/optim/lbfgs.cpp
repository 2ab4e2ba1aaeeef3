#include "optim/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <utility>

#include "util/error.h"

namespace mnist {

namespace {

// The line search's constants, as torch's _strong_wolfe has them.
constexpr double kC1 = 1e-4, kC2 = 0.9;
constexpr int kMaxLineSearch = 25;

// Dot products are summed in double and rounded to float, as torch's are
// float32 numbers (its summation order is BLAS's, which we do not copy).
float dot(const float* a, const float* b, size_t n) {
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += static_cast<double>(a[i]) * b[i];
  return static_cast<float>(sum);
}

// max |a_i|; NaN if any is NaN (as torch's max).
float max_abs(const float* a, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(a[i])) return NAN;
    m = std::max(m, std::abs(a[i]));
  }
  return m;
}

// The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1
// and g2, clamped to bounds (by default the interval between x1 and x2).
double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2,
                         std::optional<std::pair<double, double>> bounds = std::nullopt) {
  const auto [lo, hi] = bounds ? *bounds : x1 <= x2 ? std::pair(x1, x2) : std::pair(x2, x1);
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (d2_square >= 0) {
    const double d2 = std::sqrt(d2_square);
    const double min_pos = x1 <= x2 ? x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                    : x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return std::min(std::max(min_pos, lo), hi);
  }
  return (lo + hi) / 2;
}

}  // namespace

Lbfgs::Lbfgs(const OptimizerConfig& c, std::vector<ParamTensor> t) : Optimizer(c, std::move(t)) {
  d_ = zeros();
  prev_grad_ = zeros();
}

std::vector<StateBuffer> Lbfgs::state_buffers() {
  return {{"d", &d_},
          {"prev_flat_grad", &prev_grad_},
          {"old_dirs", &old_dirs_, false, true},
          {"old_stps", &old_stps_, false, true},
          {"ro", &ro_, false, true}};
}

std::vector<StateScalar> Lbfgs::state_scalars() {
  return {{"t", &t_}, {"H_diag", &h_diag_}, {"prev_loss", &prev_loss_}, {"n_iter", &n_iter_},
          {"func_evals", &func_evals_}};
}

Lbfgs::Evaluation Lbfgs::evaluate_along(std::span<float> params, double t, const Closure& closure) {
  const std::vector<float> x(params.begin(), params.begin() + static_cast<std::ptrdiff_t>(size_));
  const auto step = static_cast<float>(t);
  for (size_t i = 0; i < size_; ++i) params[i] = params[i] + step * d_[i];
  Evaluation e{closure.reevaluate(), std::vector<float>(grads_.begin(), grads_.begin() + static_cast<std::ptrdiff_t>(size_))};
  std::copy(x.begin(), x.end(), params.begin());
  return e;
}

Lbfgs::Search Lbfgs::strong_wolfe(std::span<float> params, double t, double f, const std::vector<float>& g,
                                  double gtd, const Closure& closure) {
  const double d_norm = max_abs(d_.data(), size_);
  Evaluation next = evaluate_along(params, t, closure);
  int evaluations = 1;
  double gtd_new = dot(next.grad.data(), d_.data(), size_);
  double t_prev = 0, f_prev = f, gtd_prev = gtd;
  std::vector<float> g_prev = g;
  bool done = false;
  int iter = 0;
  // The bracket: one or two points (step, loss, gradient, slope along d).
  std::vector<double> bracket, bracket_f, bracket_gtd;
  std::vector<std::vector<float>> bracket_g;
  // Bracketing: grow the step until an interval holds a point satisfying
  // the strong Wolfe conditions.
  while (iter < kMaxLineSearch) {
    const bool armijo_fails = next.loss > f + kC1 * t * gtd || (iter > 1 && next.loss >= f_prev);
    const bool curvature_holds = !armijo_fails && std::abs(gtd_new) <= -kC2 * gtd;
    if (curvature_holds) {
      bracket = {t};
      bracket_f = {next.loss};
      bracket_g = {next.grad};
      done = true;
      break;
    }
    if (armijo_fails || gtd_new >= 0) {
      bracket = {t_prev, t};
      bracket_f = {f_prev, next.loss};
      bracket_g = {g_prev, next.grad};
      bracket_gtd = {gtd_prev, gtd_new};
      break;
    }
    const double min_step = t + 0.01 * (t - t_prev), max_step = t * 10, previous = t;
    t = cubic_interpolate(t_prev, f_prev, gtd_prev, t, next.loss, gtd_new, std::pair(min_step, max_step));
    t_prev = previous;
    f_prev = next.loss;
    g_prev = next.grad;
    gtd_prev = gtd_new;
    next = evaluate_along(params, t, closure);
    ++evaluations;
    gtd_new = dot(next.grad.data(), d_.data(), size_);
    ++iter;
  }
  if (iter == kMaxLineSearch) {
    bracket = {0, t};
    bracket_f = {f, next.loss};
    bracket_g = {g, next.grad};
  }
  // Zoom: shrink the bracket by cubic interpolation until a point satisfies
  // the conditions or the interval is too small to matter.
  bool insufficient_progress = false;
  size_t low = bracket_f.front() <= bracket_f.back() ? 0 : 1, high = 1 - low;
  while (!done && iter < kMaxLineSearch) {
    if (std::abs(bracket[1] - bracket[0]) * d_norm < config_.get("tolerance_change")) break;
    t = cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]);
    const double top = std::max(bracket[0], bracket[1]), bottom = std::min(bracket[0], bracket[1]);
    const double margin = 0.1 * (top - bottom);
    if (std::min(top - t, t - bottom) < margin) {
      // Too close to an end: move a tenth of the interval in, unless the
      // last step was already close and made progress.
      if (insufficient_progress || t >= top || t <= bottom) {
        t = std::abs(t - top) < std::abs(t - bottom) ? top - margin : bottom + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    next = evaluate_along(params, t, closure);
    ++evaluations;
    gtd_new = dot(next.grad.data(), d_.data(), size_);
    ++iter;
    if (next.loss > f + kC1 * t * gtd || next.loss >= bracket_f[low]) {
      bracket[high] = t;
      bracket_f[high] = next.loss;
      bracket_g[high] = next.grad;
      bracket_gtd[high] = gtd_new;
      low = bracket_f[0] <= bracket_f[1] ? 0 : 1;
      high = 1 - low;
    } else {
      if (std::abs(gtd_new) <= -kC2 * gtd) {
        done = true;
      } else if (gtd_new * (bracket[high] - bracket[low]) >= 0) {
        bracket[high] = bracket[low];
        bracket_f[high] = bracket_f[low];
        bracket_g[high] = bracket_g[low];
        bracket_gtd[high] = bracket_gtd[low];
      }
      bracket[low] = t;
      bracket_f[low] = next.loss;
      bracket_g[low] = next.grad;
      bracket_gtd[low] = gtd_new;
    }
  }
  return {bracket_f[low], bracket_g[low], bracket[low], evaluations};
}

void Lbfgs::direction(const std::vector<float>& grad) {
  const size_t n = size_, k = history();
  al_.resize(std::max(al_.size(), k));
  std::vector<float> q(n);
  for (size_t i = 0; i < n; ++i) q[i] = -grad[i];
  for (size_t i = k; i-- > 0;) {
    const float* s = old_stps_.data() + i * n;
    const float* y = old_dirs_.data() + i * n;
    al_[i] = dot(s, q.data(), n) * ro_[i];
    const float scale = -al_[i];
    for (size_t j = 0; j < n; ++j) q[j] = q[j] + scale * y[j];
  }
  const auto h = static_cast<float>(h_diag_);
  for (size_t j = 0; j < n; ++j) d_[j] = q[j] * h;
  for (size_t i = 0; i < k; ++i) {
    const float* s = old_stps_.data() + i * n;
    const float* y = old_dirs_.data() + i * n;
    const float be = dot(y, d_.data(), n) * ro_[i];
    const float scale = al_[i] - be;
    for (size_t j = 0; j < n; ++j) d_[j] = d_[j] + scale * s[j];
  }
}

void Lbfgs::apply(std::span<float> params, std::span<const float> grads, double lr, const Closure* closure) {
  if (closure == nullptr || !closure->reevaluate) throw std::logic_error("lbfgs needs a closure");
  const size_t n = size_;
  grads_ = grads;
  const auto max_iter = static_cast<int>(config_.get("max_iter"));
  const int max_eval =
      config_.hypers.has("max_eval") ? static_cast<int>(config_.get("max_eval")) : max_iter * 5 / 4;
  const double tolerance_grad = config_.get("tolerance_grad"), tolerance_change = config_.get("tolerance_change");
  const auto history_size = static_cast<size_t>(config_.get("history_size"));
  const bool line_search = config_.get("line_search") != 0;

  double loss = closure->loss;
  int current_evals = 1;
  func_evals_ += 1;
  std::vector<float> grad(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(n));
  bool optimal = max_abs(grad.data(), n) <= tolerance_grad;
  if (optimal) return;

  double t = t_;
  for (int iter = 1; iter <= max_iter; ++iter) {
    n_iter_ += 1;
    if (n_iter_ == 1) {
      for (size_t i = 0; i < n; ++i) d_[i] = -grad[i];
      old_dirs_.clear();
      old_stps_.clear();
      ro_.clear();
      h_diag_ = 1;
    } else {
      // The newest curvature pair: the change of gradient over the last move.
      std::vector<float> y(n), s(n);
      const auto step = static_cast<float>(t);
      for (size_t i = 0; i < n; ++i) {
        y[i] = grad[i] - prev_grad_[i];
        s[i] = d_[i] * step;
      }
      const float ys = dot(y.data(), s.data(), n);
      if (ys > 1e-10) {
        if (history() == history_size) {
          old_dirs_.erase(old_dirs_.begin(), old_dirs_.begin() + static_cast<std::ptrdiff_t>(n));
          old_stps_.erase(old_stps_.begin(), old_stps_.begin() + static_cast<std::ptrdiff_t>(n));
          ro_.erase(ro_.begin());
        }
        old_dirs_.insert(old_dirs_.end(), y.begin(), y.end());
        old_stps_.insert(old_stps_.end(), s.begin(), s.end());
        ro_.push_back(1.0f / ys);
        h_diag_ = ys / dot(y.data(), y.data(), n);
      }
      direction(grad);
    }
    std::copy(grad.begin(), grad.end(), prev_grad_.begin());
    prev_loss_ = loss;
    if (n_iter_ == 1) {
      double sum = 0;
      for (float g : grad) sum += std::abs(g);
      const float inverse = 1.0f / static_cast<float>(sum);
      t = inverse < 1 ? static_cast<double>(inverse * static_cast<float>(lr)) : lr;
    } else {
      t = lr;
    }
    const float gtd = dot(grad.data(), d_.data(), n);
    if (gtd > -tolerance_change) break;  // not a descent direction

    int evaluations = 0;
    if (line_search) {
      Search found = strong_wolfe(params, t, loss, grad, gtd, *closure);
      loss = found.loss;
      grad = std::move(found.grad);
      t = found.t;
      evaluations = found.evaluations;
    }
    const auto step = static_cast<float>(t);
    for (size_t i = 0; i < n; ++i) params[i] = params[i] + step * d_[i];
    if (!line_search && iter != max_iter) {
      loss = closure->reevaluate();
      grad.assign(grads.begin(), grads.begin() + static_cast<std::ptrdiff_t>(n));
      evaluations = 1;
    }
    if (line_search || iter != max_iter) optimal = max_abs(grad.data(), n) <= tolerance_grad;
    current_evals += evaluations;
    func_evals_ += evaluations;
    if (iter == max_iter || current_evals >= max_eval || optimal) break;
    float moved = 0;
    for (size_t i = 0; i < n; ++i) moved = std::max(moved, std::abs(d_[i] * step));
    if (moved <= tolerance_change) break;
    if (std::abs(loss - prev_loss_) < tolerance_change) break;
  }
  t_ = t;
}

}  // namespace mnist
