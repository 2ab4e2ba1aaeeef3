#pragma once
// The other layers of the networks, as forward/backward pairs over
// contiguous buffers. Backward functions write (=) the input gradient and
// accumulate (+=) into parameter gradients.
#include <cstddef>
#include <cstdint>

namespace mnist {

// y = max(x, 0), elementwise over count values.
template <class T>
void relu_forward(const T* x, T* y, size_t count);
// dx = dy where the output was positive (y > 0), 0 elsewhere.
template <class T>
void relu_backward(const T* y, const T* dy, T* dx, size_t count);

// Max pooling with a square window and no padding over planes (N*C of them)
// of h x w: out (planes, oh, ow) with oh = (h - k) / stride + 1. argmax
// records, per output, the index within its plane of the winning input (the
// first maximum, like PyTorch).
struct PoolGeometry {
  int height = 0, width = 0, kernel = 2, stride = 2;
  int out_height() const { return (height - kernel) / stride + 1; }
  int out_width() const { return (width - kernel) / stride + 1; }
};
template <class T>
void maxpool_forward(const T* x, T* y, int32_t* argmax, size_t planes, const PoolGeometry& g);
// dx = dy at each output's argmax (summed where windows overlap), 0 elsewhere.
// argmax must come from maxpool_forward with the same geometry: the 2x2,
// stride-2 float path looks for each argmax within its own window only.
template <class T>
void maxpool_backward(const T* dy, const int32_t* argmax, T* dx, size_t planes, const PoolGeometry& g);

// Batch normalisation over the channels of n samples of C planes of `plane`
// values (plane 1 for BatchNorm1d after a linear layer), as PyTorch's
// BatchNorm1d/2d. In training, each channel is normalised by the mean and
// biased variance of its n * plane values:
//   xhat = (x - mean) / sqrt(var + eps),  y = gamma xhat + beta,
// and the batch's mean and unbiased variance (var * M / (M - 1), M = n *
// plane; var itself when M is 1) are returned for the running statistics.
// xhat and 1 / sqrt(var + eps) are kept for the backward pass.
template <class T>
void batchnorm_train_forward(const T* x, const T* gamma, const T* beta, T* y, T* xhat, T* inv_std, T* batch_mean,
                             T* batch_var, int n, int channels, int plane, T eps);
// In evaluation, with the running statistics:
//   y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
template <class T>
void batchnorm_eval_forward(const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                            T* y, int n, int channels, int plane, T eps);
// dgamma += sum dy xhat, dbeta += sum dy, and (dx may be null)
//   dx = gamma inv_std / M (M dy - sum dy - xhat sum dy xhat).
template <class T>
void batchnorm_backward(const T* xhat, const T* inv_std, const T* gamma, const T* dy, T* dx, T* dgamma, T* dbeta,
                        int n, int channels, int plane);

// x (n, in), weight (out, in), bias (out) -> y (n, out) = x weight^T + bias
template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, int n, int in, int out);
// dweight += dy^T x, dbias += sum over rows of dy, dx = dy weight (dx may be null).
template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n, int in, int out);

// Fused softmax cross-entropy on logits (n, classes), numerically stable:
//   loss_i = log(sum_j exp(z_ij - m_i)) - (z_i,label_i - m_i),  m_i = max_j z_ij
// Returns the sum of loss_i (in double). If dlogits is not null it receives
//   dlogits_ij = scale * (softmax(z_i)_j - [j == label_i])
// where scale is 1/batch for a loss averaged over the batch. With label
// smoothing eps (PyTorch's CrossEntropyLoss(label_smoothing=eps)) the target
// is 1 - eps + eps/classes for the label and eps/classes elsewhere:
//   loss_i = (1 - eps) nll_i + eps/classes sum_j -log softmax(z_i)_j.
template <class T>
double softmax_cross_entropy(const T* logits, const uint8_t* labels, int n, int classes, T scale, T* dlogits,
                             T smoothing = T(0));

// Row-wise softmax, for prediction.
template <class T>
void softmax(const T* logits, T* probs, int n, int classes);

}  // namespace mnist
