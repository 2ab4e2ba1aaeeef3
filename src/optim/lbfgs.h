#pragma once
#include "optim/optimizer.h"

namespace mnist {

// L-BFGS (torch.optim.LBFGS of PyTorch 1.13, itself after Schmidt's minFunc;
// Liu & Nocedal 1989). All tensors are one flat vector x. Each step runs up
// to max_iter iterations on the same batch:
//   d = -g on the very first iteration, with step length
//       t = min(1, 1 / |g|_1) * lr; afterwards t = lr
//   otherwise, with y = g - g_prev and s = t_prev * d_prev kept when
//   y.s > 1e-10 (at most history_size pairs, oldest dropped),
//   H0 = y.s / y.y of the newest pair, and the two-loop recursion:
//       q = -g;  for i newest..oldest: a_i = rho_i s_i.q,  q -= a_i y_i
//       r = H0 q; for i oldest..newest: b = rho_i y_i.r,  r += (a_i - b) s_i
//       d = r                          (rho_i = 1 / y_i.s_i)
//   stop when g.d > -tolerance_change (not a descent direction)
//   x += t d, with t from a strong-Wolfe line search (--line-search
//   strong_wolfe: cubic interpolation, c1 = 1e-4, c2 = 0.9, at most 25
//   evaluations) or fixed, then the loss and gradient again (the closure)
//   stop after max_iter iterations or max_eval evaluations, or when
//   max|g| <= tolerance_grad, max|t d| <= tolerance_change or the loss
//   changed by less than tolerance_change.
// A quasi-Newton method: the pairs (s, y) of recent moves and gradient
// changes build an estimate of the inverse curvature, so the step is scaled
// per direction as Newton's would be, without a Hessian. Made for smooth
// full-batch problems; on mini-batches its curvature pairs mix batches.
class Lbfgs final : public Optimizer {
 public:
  Lbfgs(const OptimizerConfig& c, std::vector<ParamTensor> t);
  std::vector<StateBuffer> state_buffers() override;
  std::vector<StateScalar> state_scalars() override;

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure* closure) override;

 private:
  struct Evaluation {
    double loss;
    std::vector<float> grad;
  };
  // Loss and gradient at x + t d (x: the parameters as they are); the
  // parameters are put back afterwards.
  Evaluation evaluate_along(std::span<float> params, double t, const Closure& closure);
  // The strong-Wolfe line search from t: the loss, gradient and step length
  // it settles on, and the evaluations it took.
  struct Search {
    double loss;
    std::vector<float> grad;
    double t;
    int evaluations;
  };
  Search strong_wolfe(std::span<float> params, double t, double loss, const std::vector<float>& grad, double gtd,
                      const Closure& closure);
  // The two-loop recursion: the new direction from the gradient and history.
  void direction(const std::vector<float>& grad);
  size_t history() const { return ro_.size(); }

  // State (saved): direction, previous gradient, the (y, s) history as rows
  // of size_ values, rho per pair, and the numbers below.
  std::vector<float> d_, prev_grad_, old_dirs_, old_stps_, ro_;
  double t_ = 0, h_diag_ = 1, prev_loss_ = 0, n_iter_ = 0, func_evals_ = 0;
  std::vector<float> al_;              // scratch for the recursion
  std::span<const float> grads_;       // the caller's gradient block, which the closure rewrites
};

}  // namespace mnist
