#include "optim/passes.h"

#include <algorithm>
#include <cmath>

namespace mnist {

namespace {
double decay_of(const ParamTensor& t, double wd, bool decay_biases) { return t.is_bias && !decay_biases ? 0.0 : wd; }
}  // namespace

void add_weight_decay(std::span<const float> params, std::span<const float> grad, std::span<float> out,
                      const std::vector<ParamTensor>& tensors, double wd, bool decay_biases) {
  for (const ParamTensor& t : tensors) {
    const auto w = static_cast<float>(decay_of(t, wd, decay_biases));
    const float* p = params.data();
    const float* g = grad.data();
    float* o = out.data();
    for (size_t i = t.offset; i < t.offset + t.size; ++i) o[i] = w != 0 ? g[i] + w * p[i] : g[i];
  }
}

void decay_weights(std::span<float> params, const std::vector<ParamTensor>& tensors, double lr, double wd,
                   bool decay_biases) {
  for (const ParamTensor& t : tensors) {
    const double w = decay_of(t, wd, decay_biases);
    if (w == 0) continue;
    const auto shrink = static_cast<float>(1 - lr * w);
    float* p = params.data();
    for (size_t i = t.offset; i < t.offset + t.size; ++i) p[i] = p[i] * shrink;
  }
}

void clip_grad_norm(std::span<float> grad, double max_norm) {
  double squares = 0;
  for (float g : grad) squares += static_cast<double>(g) * g;
  const double coef = max_norm / (std::sqrt(squares) + 1e-6);
  if (coef < 1) {
    const auto scale = static_cast<float>(coef);
    for (float& g : grad) g *= scale;
  }
}

}  // namespace mnist
