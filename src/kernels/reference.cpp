#include "kernels/reference.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <cstddef>

#include "kernels/conv_direct.h"

namespace mnist::reference {

template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n, const ConvGeometry& g) {
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
                       x[((static_cast<size_t>(s) * g.in_channels + c) * g.height + iy) * g.width + ix];
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
  if (dx != nullptr) std::fill(dx, dx + static_cast<size_t>(n) * g.in_channels * g.height * g.width, T(0));
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
                const size_t xi = ((static_cast<size_t>(s) * g.in_channels + c) * g.height + iy) * g.width + ix;
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

// x[s][c][iy][ix], or 0 outside the image.
static float at(const float* x, int s, int c, int iy, int ix, int channels, int height, int width) {
  if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0.0f;
  return x[((static_cast<size_t>(s) * channels + c) * height + iy) * width + ix];
}

void direct_conv2d_forward(const float* x, const float* weight, const float* bias, float* y, int n,
                           const ConvGeometry& g) {
  const int k = g.kernel, h = g.height, w = g.width, C = g.in_channels, OC = g.out_channels;
  for (int s = 0; s < n; ++s) {
    for (int oc = 0; oc < OC; ++oc) {
      for (int oy = 0; oy < h; ++oy) {
        for (int ox = 0; ox < w; ++ox) {
          float acc = bias[oc];
          for (int c = 0; c < C; ++c) {
            for (int ky = 0; ky < k; ++ky) {
              for (int kx = 0; kx < k; ++kx) {
                acc = std::fma(weight[((static_cast<size_t>(oc) * C + c) * k + ky) * k + kx],
                               at(x, s, c, oy + ky - g.pad, ox + kx - g.pad, C, h, w), acc);
              }
            }
          }
          y[((static_cast<size_t>(s) * OC + oc) * h + oy) * w + ox] = acc;
        }
      }
    }
  }
}

void direct_conv2d_backward(const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                            float* dbias, int n, const ConvGeometry& g) {
  const int k = g.kernel, h = g.height, w = g.width, C = g.in_channels, OC = g.out_channels;
  constexpr int kLanes = direct::kLanes;
  const int vectors = (w + kLanes - 1) / kLanes;
  // The 16 lanes' partial sums, added in a halving order.
  auto reduce = [](float* lane) {
    for (int half = kLanes / 2; half >= 1; half /= 2) {
      for (int i = 0; i < half; ++i) lane[i] = lane[i] + lane[i + half];
    }
    return lane[0];
  };
  for (int oc = 0; oc < OC; ++oc) {
    float lane[kLanes] = {};
    for (int s = 0; s < n; ++s) {
      for (int y = 0; y < h; ++y) {
        for (int v = 0; v < vectors; ++v) {
          for (int l = 0; l < kLanes; ++l) {
            const int ox = v * kLanes + l;
            lane[l] = lane[l] + (ox < w ? at(dy, s, oc, y, ox, OC, h, w) : 0.0f);
          }
        }
      }
    }
    dbias[oc] = dbias[oc] + reduce(lane);
  }
  if (dx != nullptr) {
    for (int s = 0; s < n; ++s) {
      for (int c = 0; c < C; ++c) {
        for (int iy = 0; iy < h; ++iy) {
          for (int ix = 0; ix < w; ++ix) {
            float acc = 0;
            for (int oc = 0; oc < OC; ++oc) {
              for (int ky = 0; ky < k; ++ky) {
                for (int kx = 0; kx < k; ++kx) {
                  acc = std::fma(weight[((static_cast<size_t>(oc) * C + c) * k + (k - 1 - ky)) * k + (k - 1 - kx)],
                                 at(dy, s, oc, iy + ky - g.pad, ix + kx - g.pad, OC, h, w), acc);
                }
              }
            }
            dx[((static_cast<size_t>(s) * C + c) * h + iy) * w + ix] = acc;
          }
        }
      }
    }
  }
  for (int oc = 0; oc < OC; ++oc) {
    for (int c = 0; c < C; ++c) {
      for (int ky = 0; ky < k; ++ky) {
        for (int kx = 0; kx < k; ++kx) {
          float& dw = dweight[((static_cast<size_t>(oc) * C + c) * k + ky) * k + kx];
          for (int s0 = 0; s0 < n; s0 += direct::kGradSamples) {
            float lane[kLanes] = {};
            for (int s = s0; s < std::min(n, s0 + direct::kGradSamples); ++s) {
              for (int y = 0; y < h; ++y) {
                for (int v = 0; v < vectors; ++v) {
                  for (int l = 0; l < kLanes; ++l) {
                    const int ox = v * kLanes + l;
                    const float d = ox < w ? at(dy, s, oc, y, ox, OC, h, w) : 0.0f;
                    lane[l] = std::fma(d, at(x, s, c, y + ky - g.pad, ox + kx - g.pad, C, h, w), lane[l]);
                  }
                }
              }
            }
            dw = dw + reduce(lane);
          }
        }
      }
    }
  }
}

void maxpool_forward(const float* x, float* y, int32_t* argmax, size_t planes, const PoolGeometry& g) {
  const int oh = g.out_height(), ow = g.out_width();
  for (size_t p = 0; p < planes; ++p) {
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        int best = -1;
        for (int ky = 0; ky < g.kernel; ++ky) {
          for (int kx = 0; kx < g.kernel; ++kx) {
            const int idx = (oy * g.stride + ky) * g.width + ox * g.stride + kx;
            const float v = x[p * g.height * g.width + idx];
            if (best < 0 || v > x[p * g.height * g.width + best] || std::isnan(v)) best = idx;
          }
        }
        y[(p * oh + oy) * ow + ox] = x[p * g.height * g.width + best];
        argmax[(p * oh + oy) * ow + ox] = best;
      }
    }
  }
}

template void conv2d_forward<float>(const float*, const float*, const float*, float*, int, const ConvGeometry&);
template void conv2d_forward<double>(const double*, const double*, const double*, double*, int, const ConvGeometry&);
template void conv2d_backward<float>(const float*, const float*, const float*, float*, float*, float*, int,
                                     const ConvGeometry&);
template void conv2d_backward<double>(const double*, const double*, const double*, double*, double*, double*, int,
                                      const ConvGeometry&);
template void matmul<float>(const float*, const float*, float*, int, int, int);
template void matmul<double>(const double*, const double*, double*, int, int, int);

namespace {

// Where value i of channel c of sample s is, in (n, channels, plane).
struct ChannelLayout {
  int n, channels, plane;
  size_t operator()(int s, int c, int i) const { return (static_cast<size_t>(s) * channels + c) * plane + i; }
  double count() const { return static_cast<double>(n) * plane; }
};

// Channel c's mean and biased variance, by their definitions.
std::pair<double, double> channel_moments(const double* x, const ChannelLayout& at, int c) {
  double mean = 0, var = 0;
  for (int s = 0; s < at.n; ++s) {
    for (int i = 0; i < at.plane; ++i) mean += x[at(s, c, i)] / at.count();
  }
  for (int s = 0; s < at.n; ++s) {
    for (int i = 0; i < at.plane; ++i) var += (x[at(s, c, i)] - mean) * (x[at(s, c, i)] - mean) / at.count();
  }
  return {mean, var};
}

}  // namespace

void batchnorm_forward(const double* x, const double* gamma, const double* beta, double* y, int n, int channels,
                       int plane, double eps) {
  const ChannelLayout at{n, channels, plane};
  for (int c = 0; c < channels; ++c) {
    const auto [mean, var] = channel_moments(x, at, c);
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < plane; ++i) y[at(s, c, i)] = gamma[c] * (x[at(s, c, i)] - mean) / std::sqrt(var + eps) + beta[c];
    }
  }
}

// With xhat = (x - mean) / sigma, sigma = sqrt(var + eps):
//   dL/dxhat = dy gamma
//   dL/dvar  = sum dL/dxhat (x - mean) * -1/2 sigma^-3
//   dL/dmean = sum dL/dxhat * -1/sigma + dL/dvar * sum -2 (x - mean) / M
//   dL/dx    = dL/dxhat / sigma + dL/dvar 2 (x - mean) / M + dL/dmean / M
void batchnorm_backward(const double* x, const double* gamma, const double* dy, double* dx, double* dgamma,
                        double* dbeta, int n, int channels, int plane, double eps) {
  const ChannelLayout at{n, channels, plane};
  const double count = at.count();
  for (int c = 0; c < channels; ++c) {
    const auto [mean, var] = channel_moments(x, at, c);
    const double sigma = std::sqrt(var + eps);
    double dvar = 0, dmean = 0, centred = 0, g = 0, b = 0;
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < plane; ++i) {
        const double d = x[at(s, c, i)] - mean, dxhat = dy[at(s, c, i)] * gamma[c];
        dvar += dxhat * d * -0.5 / (sigma * sigma * sigma);
        dmean += -dxhat / sigma;
        centred += -2 * d / count;
        g += dy[at(s, c, i)] * d / sigma;
        b += dy[at(s, c, i)];
      }
    }
    dmean += dvar * centred;
    for (int s = 0; s < n; ++s) {
      for (int i = 0; i < plane; ++i) {
        const double d = x[at(s, c, i)] - mean;
        dx[at(s, c, i)] = dy[at(s, c, i)] * gamma[c] / sigma + dvar * 2 * d / count + dmean / count;
      }
    }
    dgamma[c] = g;
    dbeta[c] = b;
  }
}

}  // namespace mnist::reference
