#pragma once
// Naive reference kernels: direct loops that follow the definitions, kept
// beside the fast kernels so tests can compare the two on random shapes.
#include "kernels/conv.h"

namespace mnist::reference {

// y[n][oc][oy][ox] = b[oc] + sum_{c,ky,kx} w[oc][c][ky][kx] * x[n][c][oy*s-p+ky][ox*s-p+kx]
template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n,
                    const ConvGeometry& g);
// The exact adjoint of the above; accumulates into dx (if not null), dweight, dbias.
template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n,
                     const ConvGeometry& g);
// y (m x n) = a (m x k) * b (k x n), all row-major.
template <class T>
void matmul(const T* a, const T* b, T* y, int m, int n, int k);

}  // namespace mnist::reference
