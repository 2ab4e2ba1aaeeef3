#include "kernels/reference.h"

#include <cstddef>

namespace mnist::reference {

template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n,
                    const ConvGeometry& g) {
  const int oh = g.out_height(), ow = g.out_width(), k = g.kernel;
  for (int s = 0; s < n; ++s) {
    for (int oc = 0; oc < g.out_channels; ++oc) {
      for (int oy = 0; oy < oh; ++oy) {
        for (int ox = 0; ox < ow; ++ox) {
          T acc = bias[oc];
          for (int c = 0; c < g.in_channels; ++c) {
            for (int ky = 0; ky < k; ++ky) {
              for (int kx = 0; kx < k; ++kx) {
                const int iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
                if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
                acc += weight[((static_cast<size_t>(oc) * g.in_channels + c) * k + ky) * k + kx] *
                       x[((static_cast<size_t>(s) * g.in_channels + c) * g.height + iy) * g.width +
                         ix];
              }
            }
          }
          y[((static_cast<size_t>(s) * g.out_channels + oc) * oh + oy) * ow + ox] = acc;
        }
      }
    }
  }
}

template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n,
                     const ConvGeometry& g) {
  const int oh = g.out_height(), ow = g.out_width(), k = g.kernel;
  for (int s = 0; s < n; ++s) {
    for (int oc = 0; oc < g.out_channels; ++oc) {
      for (int oy = 0; oy < oh; ++oy) {
        for (int ox = 0; ox < ow; ++ox) {
          const T d = dy[((static_cast<size_t>(s) * g.out_channels + oc) * oh + oy) * ow + ox];
          dbias[oc] += d;
          for (int c = 0; c < g.in_channels; ++c) {
            for (int ky = 0; ky < k; ++ky) {
              for (int kx = 0; kx < k; ++kx) {
                const int iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
                if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) continue;
                const size_t wi = ((static_cast<size_t>(oc) * g.in_channels + c) * k + ky) * k + kx;
                const size_t xi =
                    ((static_cast<size_t>(s) * g.in_channels + c) * g.height + iy) * g.width + ix;
                dweight[wi] += d * x[xi];
                if (dx != nullptr) dx[xi] += d * weight[wi];
              }
            }
          }
        }
      }
    }
  }
}

template <class T>
void matmul(const T* a, const T* b, T* y, int m, int n, int k) {
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      T acc = 0;
      for (int p = 0; p < k; ++p) acc += a[static_cast<size_t>(i) * k + p] * b[static_cast<size_t>(p) * n + j];
      y[static_cast<size_t>(i) * n + j] = acc;
    }
  }
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, int,
                                    const ConvGeometry&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, int,
                                     const ConvGeometry&);
template void conv2d_backward<float>(const float*, const float*, const float*, float*, float*,
                                     float*, int, const ConvGeometry&);
template void conv2d_backward<double>(const double*, const double*, const double*, double*,
                                      double*, double*, int, const ConvGeometry&);
template void matmul<float>(const float*, const float*, float*, int, int, int);
template void matmul<double>(const double*, const double*, double*, int, int, int);

}  // namespace mnist::reference
