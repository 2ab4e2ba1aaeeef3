#pragma once
// Passes over the flat parameter and gradient blocks that every optimizer
// shares, in PyTorch's arithmetic (float, with the same rounding order), so
// that they may run apart from the update loop and give the same bits.
#include <span>
#include <vector>

#include "util/param_tensor.h"

namespace mnist {

// g = grad + wd * p for each tensor (wd 0 for biases when decay_biases is
// false), written to out; tensors with no decay are copied.
void add_weight_decay(std::span<const float> params, std::span<const float> grad, std::span<float> out,
                      const std::vector<ParamTensor>& tensors, double wd, bool decay_biases);

// p = p * (1 - lr * wd) for each tensor, the same exemption: AdamW's
// decoupled decay.
void decay_weights(std::span<float> params, const std::vector<ParamTensor>& tensors, double lr, double wd,
                   bool decay_biases);

// torch.nn.utils.clip_grad_norm_: scales the gradient by
// max_norm / (norm + 1e-6) when that is below 1. The norm is the global L2
// norm, summed in double.
void clip_grad_norm(std::span<float> grad, double max_norm);

}  // namespace mnist
