#pragma once
#include "optim/optimizer.h"

namespace mnist {

// Adafactor (Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with
// Sublinear Memory Cost"), as torch.optim.Adafactor of PyTorch 2.5 and later
// (its documented algorithm and defaults), t = 1, 2, ..., each tensor p with
// gradient g:
//   beta2_t = 1 - t^beta2_decay,  rho_t = min(lr, 1 / sqrt(t))
//   alpha   = max(eps2, RMS(p)) * rho_t          (RMS before the weight decay)
//   p = p * (1 - lr * wd)
//   tensors of 2 or more dims, factored over their last two (R x C; the
//   leading dims are separate matrices, so a conv kernel O x I x kh x kw is
//   O*I factorisations of kh x kw):
//     r = beta2_t r + (1 - beta2_t) mean_c(g^2),  c = beta2_t c + (1 - beta2_t) mean_r(g^2)
//     V = r c^T / max(mean(r), eps1)
//   vectors: V = v = beta2_t v + (1 - beta2_t) g^2
//   U = g / sqrt(max(V, eps1^2))
//   p = p - alpha / max(1, RMS(U) / d) * U
// Adam's second moment stored as one number per row and per column instead
// of per weight, with no first moment: the memory of SGD, Adam-like scaling.
// The step is relative to the weights' own size (alpha), and updates whose
// RMS exceeds d are clipped. eps is the pair (eps1, eps2); PyTorch's eps1
// default None means the dtype's machine epsilon: 2^-23 here, in float32.
class Adafactor final : public Optimizer {
 public:
  Adafactor(const OptimizerConfig& c, std::vector<ParamTensor> t);
  std::vector<StateBuffer> state_buffers() override;

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) override;

 private:
  // Where a tensor's factors live: its matrices (batch of R x C) and the
  // offsets of its rows' and columns' moments, or of its full moment.
  struct Layout {
    bool factored = false;
    size_t batch = 1, rows = 1, cols = 1;
    size_t row_offset = 0, col_offset = 0, full_offset = 0;
  };
  std::vector<Layout> layouts_;
  std::vector<float> row_var_, col_var_, variance_;
  std::vector<float> update_;  // scratch: one tensor's U
};

}  // namespace mnist
