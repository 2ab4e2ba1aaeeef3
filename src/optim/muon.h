#pragma once
#include "optim/optimizer.h"

namespace mnist {

// Muon, "MomentUm Orthogonalized by Newton-Schulz" (Jordan et al. 2024), as
// torch.optim.Muon of PyTorch 2.9, after the shared decoupled decay
// p = p * (1 - lr * wd). Every tensor of 2 or more dims, seen as a matrix
// A x B (a conv kernel O x I x kh x kw as O x I*kh*kw):
//   m = momentum * m + (1 - momentum) * g
//   u = (1 - momentum) * g + momentum * m      (Nesterov; u = m without)
//   X = u / max(|u|_F, eps), transposed if A > B
//   ns_steps times: S = X X^T,  X = a X + (b S + c S S) X
//       with (a, b, c) = ns_coefficients (3.4445, -4.7750, 2.0315)
//   p = p - lr * 0.2 * sqrt(max(A, B)) * X     (adjust_lr_fn match_rms_adamw;
//       "original" scales by sqrt(max(1, A / B)) instead)
// The other tensors (the biases) take AdamW with the same lr and weight
// decay, betas adamw_betas and eps adamw_eps.
// The Newton-Schulz iteration pushes every singular value of the momentum
// towards 1: the update keeps the momentum's directions but not its
// scales, so rare directions learn as fast as common ones. The 0.2 sqrt(max
// (A, B)) factor gives the update the RMS of an AdamW update, so AdamW's
// learning rates and decay carry over. PyTorch runs the iteration in
// bfloat16 on GPUs; here it runs in double precision (with BLAS).
class Muon final : public Optimizer {
 public:
  Muon(const OptimizerConfig& c, std::vector<ParamTensor> t);
  std::vector<StateBuffer> state_buffers() override;

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) override;

 private:
  void orthogonalise(const float* u, size_t rows, size_t cols, float* out);
  void adamw(float* p, const float* g, size_t n, double lr, float* m, float* v) const;

  std::vector<float> momentum_buffer_, exp_avg_, exp_avg_sq_;  // parallel: Muon's for matrices, AdamW's for the rest
  std::vector<float> update_;                                  // scratch
  std::vector<double> x_, gram_, gram2_, next_;                // scratch for the iteration
};

}  // namespace mnist
