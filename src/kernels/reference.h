#pragma once
// Naive reference kernels: direct loops that follow the definitions, kept
// beside the fast kernels so tests can compare the two on random shapes.
#include <cstdint>

#include "kernels/conv.h"
#include "kernels/layers.h"

namespace mnist::reference {

// y[n][oc][oy][ox] = b[oc] + sum_{c,ky,kx} w[oc][c][ky][kx] * x[n][c][oy*s-p+ky][ox*s-p+kx]
template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n, const ConvGeometry& g);
// The exact adjoint of the above: writes dx (if not null), accumulates into dweight and dbias.
template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n,
                     const ConvGeometry& g);
// The direct kernels' arithmetic (conv_direct.h), written as plain loops
// over the unpadded tensors: the same fused multiply-adds in the same order,
// so the kernels must match these to the bit. Only "same" convolutions.
//   y = b, then y = fma(w[oc][c][ky][kx], x[c][oy+ky-p][ox+kx-p], y) over
//   (c, ky, kx), with 0 outside the image.
void direct_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, int n,
                           const ConvGeometry& g);
//   dbias[oc] += the 16 lanes l of the sums over (s, y, v) of dy[s][oc][y][16v+l],
//         added in a halving order.
//   dx = 0, then fma(w[oc][c][K-1-ky][K-1-kx], dy[oc][y+ky-p][x+kx-p], dx)
//         over (oc, ky, kx).
//   dweight += for each group of kGradSamples samples, the 16 lanes l of
//         the sums over (s, y, v) of fma(dy[s][oc][y][16v+l],
//         x[s][c][y+ky-p][16v+l+kx-p], .), dy being 0 past the row, added
//         in the halving order. (Those zero lanes meet real inputs: an
//         infinite activation there makes the entry NaN, where im2col
//         would give an infinity. Training has diverged by then anyway.
//         On planes at most 8 wide, the flat layout's zero lanes meet other
//         inputs, so there such an entry may be NaN in one and infinite in
//         the other; finite inputs give the same bits.)
void direct_conv2d_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                            float* dbias, int n, const ConvGeometry& g);
// Max-pooling: each output is the first maximum of its window in row-major
// order, a NaN replacing it; argmax is its index in the plane.
void maxpool_forward(const float* x, float* y, int32_t* argmax, size_t planes, const PoolGeometry& g);
// Batch normalisation by its definition, in double: the mean and biased
// variance of each channel over n samples of `plane` values, y = gamma (x -
// mean) / sqrt(var + eps) + beta; and the input, weight and bias gradients
// by the chain rule through the mean and variance (dx, dgamma, dbeta written).
void batchnorm_forward(const double* x, const double* gamma, const double* beta, double* y, int n, int channels,
                       int plane, double eps);
void batchnorm_backward(const double* x, const double* gamma, const double* dy, double* dx, double* dgamma,
                        double* dbeta, int n, int channels, int plane, double eps);
// y (m x n) = a (m x k) * b (k x n), all row-major.
template <class T>
void matmul(const T* a, const T* b, T* y, int m, int n, int k);

}  // namespace mnist::reference
