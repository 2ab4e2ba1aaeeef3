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
template <class T>
void maxpool_backward(const T* dy, const int32_t* argmax, T* dx, size_t planes, const PoolGeometry& g);

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
// where scale is 1/batch for a loss averaged over the batch.
template <class T>
double softmax_cross_entropy(const T* logits, const uint8_t* labels, int n, int classes, T scale, T* dlogits);

// Row-wise softmax, for prediction.
template <class T>
void softmax(const T* logits, T* probs, int n, int classes);

}  // namespace mnist
