#include "kernels/layers.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/blas.h"
#include "kernels/conv_direct.h"

namespace mnist {

template <class T>
void relu_forward(const T* x, T* y, size_t count) {
  for (size_t i = 0; i < count; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <class T>
void relu_backward(const T* y, const T* dy, T* dx, size_t count) {
  // dy is read whatever y is, so the loop has no branch and vectorises.
  for (size_t i = 0; i < count; ++i) {
    const T d = dy[i];
    dx[i] = y[i] > T(0) ? d : T(0);
  }
}

// The sums of a channel's values run over samples, then over the plane in
// kSumLanes interleaved partial sums that are added up in a fixed order at
// the end: vectorised, and the same bits whatever the thread.
namespace {
constexpr int kSumLanes = 8;

template <class T>
struct LaneSum {
  T lane[kSumLanes] = {};
  T total() const {
    T t = 0;
    for (int k = 0; k < kSumLanes; ++k) t += lane[k];
    return t;
  }
};

// acc += f(i) for i in [0, count), f(i) landing in lane i % kSumLanes.
template <class T, class F>
void add_lanes(LaneSum<T>& acc, int count, F&& f) {
  int i = 0;
  for (; i + kSumLanes <= count; i += kSumLanes) {
    for (int k = 0; k < kSumLanes; ++k) acc.lane[k] += f(i + k);
  }
  for (int k = 0; i < count; ++i, ++k) acc.lane[k] += f(i);
}
}  // namespace

// After a linear layer (plane 1) a channel's values are one per sample, a
// row apart: the sums then run over samples in order for all channels at
// once, which vectorises across channels.
template <class T>
void batchnorm1d_train_forward(const T* x, const T* gamma, const T* beta, T* y, T* xhat, T* inv_std, T* batch_mean,
                               T* batch_var, int n, int channels, T eps) {
  const T count = static_cast<T>(n);
  std::fill_n(batch_mean, channels, T(0));
  std::fill_n(batch_var, channels, T(0));
  for (int s = 0; s < n; ++s) {
    const T* in = x + static_cast<size_t>(s) * channels;
    for (int c = 0; c < channels; ++c) batch_mean[c] += in[c];
  }
  for (int c = 0; c < channels; ++c) batch_mean[c] /= count;
  for (int s = 0; s < n; ++s) {
    const T* in = x + static_cast<size_t>(s) * channels;
    for (int c = 0; c < channels; ++c) batch_var[c] += (in[c] - batch_mean[c]) * (in[c] - batch_mean[c]);
  }
  for (int c = 0; c < channels; ++c) {
    const T squares = batch_var[c];
    inv_std[c] = T(1) / std::sqrt(squares / count + eps);
    batch_var[c] = n > 1 ? squares / (count - 1) : squares / count;
  }
  for (int s = 0; s < n; ++s) {
    const size_t at = static_cast<size_t>(s) * channels;
    for (int c = 0; c < channels; ++c) {
      const T h = (x[at + c] - batch_mean[c]) * inv_std[c];
      xhat[at + c] = h;
      y[at + c] = gamma[c] * h + beta[c];
    }
  }
}

template <class T>
void batchnorm1d_backward(const T* xhat, const T* inv_std, const T* gamma, const T* dy, T* dx, T* dgamma, T* dbeta,
                          int n, int channels) {
  // dgamma and dbeta are accumulated into: the sums go to local arrays first.
  constexpr int kMaxLocal = 1024;
  T sum_dy_local[kMaxLocal], sum_dy_xhat_local[kMaxLocal];
  std::vector<T> heap;
  T* sum_dy = sum_dy_local;
  T* sum_dy_xhat = sum_dy_xhat_local;
  if (channels > kMaxLocal) {
    heap.assign(2 * static_cast<size_t>(channels), T(0));
    sum_dy = heap.data();
    sum_dy_xhat = heap.data() + channels;
  }
  std::fill_n(sum_dy, channels, T(0));
  std::fill_n(sum_dy_xhat, channels, T(0));
  for (int s = 0; s < n; ++s) {
    const size_t at = static_cast<size_t>(s) * channels;
    for (int c = 0; c < channels; ++c) {
      sum_dy[c] += dy[at + c];
      sum_dy_xhat[c] += dy[at + c] * xhat[at + c];
    }
  }
  for (int c = 0; c < channels; ++c) {
    dgamma[c] += sum_dy_xhat[c];
    dbeta[c] += sum_dy[c];
  }
  if (dx == nullptr) return;
  const T count = static_cast<T>(n);
  for (int s = 0; s < n; ++s) {
    const size_t at = static_cast<size_t>(s) * channels;
    for (int c = 0; c < channels; ++c) {
      dx[at + c] = gamma[c] * inv_std[c] * (dy[at + c] - sum_dy[c] / count - xhat[at + c] * (sum_dy_xhat[c] / count));
    }
  }
}

template <class T>
void batchnorm_train_forward(const T* x, const T* gamma, const T* beta, T* y, T* xhat, T* inv_std, T* batch_mean,
                             T* batch_var, int n, int channels, int plane, T eps) {
  if (plane == 1) {
    batchnorm1d_train_forward(x, gamma, beta, y, xhat, inv_std, batch_mean, batch_var, n, channels, eps);
    return;
  }
  const size_t sample = static_cast<size_t>(channels) * plane;
  const T count = static_cast<T>(n) * static_cast<T>(plane);
  for (int c = 0; c < channels; ++c) {
    LaneSum<T> sum;
    for (int s = 0; s < n; ++s) {
      const T* in = x + s * sample + static_cast<size_t>(c) * plane;
      add_lanes(sum, plane, [in](int i) { return in[i]; });
    }
    const T mean = sum.total() / count;
    LaneSum<T> squares;
    for (int s = 0; s < n; ++s) {
      const T* in = x + s * sample + static_cast<size_t>(c) * plane;
      add_lanes(squares, plane, [in, mean](int i) { return (in[i] - mean) * (in[i] - mean); });
    }
    const T var = squares.total() / count;
    const T inv = T(1) / std::sqrt(var + eps), g = gamma[c], b = beta[c];
    for (int s = 0; s < n; ++s) {
      const size_t at = s * sample + static_cast<size_t>(c) * plane;
      for (int i = 0; i < plane; ++i) {
        const T h = (x[at + i] - mean) * inv;
        xhat[at + i] = h;
        y[at + i] = g * h + b;
      }
    }
    inv_std[c] = inv;
    batch_mean[c] = mean;
    batch_var[c] = count > 1 ? squares.total() / (count - 1) : var;
  }
}

template <class T>
void batchnorm_eval_forward(const T* x, const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                            T* y, int n, int channels, int plane, T eps) {
  const size_t sample = static_cast<size_t>(channels) * plane;
  for (int c = 0; c < channels; ++c) {
    const T scale = gamma[c] / std::sqrt(running_var[c] + eps), m = running_mean[c], b = beta[c];
    for (int s = 0; s < n; ++s) {
      const size_t at = s * sample + static_cast<size_t>(c) * plane;
      for (int i = 0; i < plane; ++i) y[at + i] = (x[at + i] - m) * scale + b;
    }
  }
}

template <class T>
void batchnorm_backward(const T* xhat, const T* inv_std, const T* gamma, const T* dy, T* dx, T* dgamma, T* dbeta,
                        int n, int channels, int plane) {
  if (plane == 1) {
    batchnorm1d_backward(xhat, inv_std, gamma, dy, dx, dgamma, dbeta, n, channels);
    return;
  }
  const size_t sample = static_cast<size_t>(channels) * plane;
  const T count = static_cast<T>(n) * static_cast<T>(plane);
  for (int c = 0; c < channels; ++c) {
    LaneSum<T> sum_dy, sum_dy_xhat;
    for (int s = 0; s < n; ++s) {
      const size_t at = s * sample + static_cast<size_t>(c) * plane;
      const T* d = dy + at;
      const T* h = xhat + at;
      add_lanes(sum_dy, plane, [d](int i) { return d[i]; });
      add_lanes(sum_dy_xhat, plane, [d, h](int i) { return d[i] * h[i]; });
    }
    const T total_dy = sum_dy.total(), total_dy_xhat = sum_dy_xhat.total();
    dgamma[c] += total_dy_xhat;
    dbeta[c] += total_dy;
    if (dx == nullptr) continue;
    const T k = gamma[c] * inv_std[c], mean_dy = total_dy / count, mean_dy_xhat = total_dy_xhat / count;
    for (int s = 0; s < n; ++s) {
      const size_t at = s * sample + static_cast<size_t>(c) * plane;
      for (int i = 0; i < plane; ++i) dx[at + i] = k * (dy[at + i] - mean_dy - xhat[at + i] * mean_dy_xhat);
    }
  }
}

// The common 2x2, stride-2 window, unrolled. Same choice as the general
// loop: the first maximum in row-major order, NaN winning.
template <class T>
static void maxpool2x2_forward(const T* x, T* y, int32_t* argmax, size_t planes, const PoolGeometry& g) {
  const int oh = g.out_height(), ow = g.out_width(), w = g.width;
  for (size_t p = 0; p < planes; ++p) {
    const T* in = x + p * g.height * w;
    T* out = y + p * oh * ow;
    int32_t* arg = argmax + p * oh * ow;
    for (int oy = 0; oy < oh; ++oy) {
      const int top = 2 * oy * w;
      for (int ox = 0; ox < ow; ++ox) {
        // Selects rather than branches: which of four values is largest is
        // as unpredictable as the data.
        const int first = top + 2 * ox;
        int best = first;
        T m = in[first];
        for (const int idx : {first + 1, first + w, first + w + 1}) {
          const T v = in[idx];
          const bool take = v > m || v != v;  // v != v: NaN
          m = take ? v : m;
          best = take ? idx : best;
        }
        out[oy * ow + ox] = m;
        arg[oy * ow + ox] = best;
      }
    }
  }
}

template <class T>
void maxpool_forward(const T* x, T* y, int32_t* argmax, size_t planes, const PoolGeometry& g) {
  if (g.kernel == 2 && g.stride == 2) {
    if constexpr (std::is_same_v<T, float>) {
      if (const direct::Kernels* k = direct::best()) {
        return k->maxpool2x2(x, y, argmax, static_cast<long>(planes), g.height, g.width);
      }
    }
    return maxpool2x2_forward(x, y, argmax, planes, g);
  }
  const int oh = g.out_height(), ow = g.out_width();
  for (size_t p = 0; p < planes; ++p) {
    const T* in = x + p * g.height * g.width;
    T* out = y + p * oh * ow;
    int32_t* arg = argmax + p * oh * ow;
    for (int oy = 0; oy < oh; ++oy) {
      for (int ox = 0; ox < ow; ++ox) {
        int best = (oy * g.stride) * g.width + ox * g.stride;
        for (int ky = 0; ky < g.kernel; ++ky) {
          for (int kx = 0; kx < g.kernel; ++kx) {
            const int idx = (oy * g.stride + ky) * g.width + ox * g.stride + kx;
            // '>' keeps the first maximum; NaN propagates like PyTorch.
            if (in[idx] > in[best] || std::isnan(in[idx])) best = idx;
          }
        }
        out[oy * ow + ox] = in[best];
        arg[oy * ow + ox] = best;
      }
    }
  }
}

template <class T>
void maxpool_backward(const T* dy, const int32_t* argmax, T* dx, size_t planes, const PoolGeometry& g) {
  const size_t out_plane = static_cast<size_t>(g.out_height()) * g.out_width();
  const size_t in_plane = static_cast<size_t>(g.height) * g.width;
  if (g.kernel == 2 && g.stride == 2) {
    if constexpr (std::is_same_v<T, float>) {
      if (const direct::Kernels* k = direct::best()) {
        return k->maxpool2x2_backward(dy, argmax, dx, static_cast<long>(planes), g.height, g.width);
      }
    }
  }
  std::fill(dx, dx + planes * in_plane, T(0));
  for (size_t p = 0; p < planes; ++p) {
    for (size_t o = 0; o < out_plane; ++o) {
      dx[p * in_plane + argmax[p * out_plane + o]] += dy[p * out_plane + o];
    }
  }
}

template <class T>
void linear_forward(const T* x, const T* weight, const T* bias, T* y, int n, int in, int out) {
  for (int i = 0; i < n; ++i) std::copy(bias, bias + out, y + static_cast<size_t>(i) * out);
  gemm<T>(false, true, n, out, in, T(1), x, in, weight, in, T(1), y, out);
}

template <class T>
void linear_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n, int in, int out) {
  gemm<T>(true, false, out, in, n, T(1), dy, out, x, in, T(1), dweight, in);
  for (int i = 0; i < n; ++i) {
    for (int o = 0; o < out; ++o) dbias[o] += dy[static_cast<size_t>(i) * out + o];
  }
  if (dx != nullptr) gemm<T>(false, false, n, in, out, T(1), dy, out, weight, in, T(0), dx, in);
}

template <class T>
double softmax_cross_entropy(const T* logits, const uint8_t* labels, int n, int classes, T scale, T* dlogits,
                             T smoothing) {
  double total = 0;
  const T off = smoothing / static_cast<T>(classes), on = T(1) - smoothing + off;
  for (int i = 0; i < n; ++i) {
    const T* z = logits + static_cast<size_t>(i) * classes;
    const T m = *std::max_element(z, z + classes);
    T sum = 0;
    for (int j = 0; j < classes; ++j) sum += std::exp(z[j] - m);
    const T log_sum = std::log(sum);
    const T nll = log_sum - (z[labels[i]] - m);
    if (smoothing == T(0)) {
      total += static_cast<double>(nll);
    } else {  // (1 - eps) nll + eps * mean over classes of -log p_j
      double uniform = 0;
      for (int j = 0; j < classes; ++j) uniform += static_cast<double>(log_sum - (z[j] - m));
      total += (1 - static_cast<double>(smoothing)) * nll + static_cast<double>(smoothing) * uniform / classes;
    }
    if (dlogits != nullptr) {
      T* d = dlogits + static_cast<size_t>(i) * classes;
      for (int j = 0; j < classes; ++j) {
        const T p = std::exp(z[j] - m - log_sum);
        d[j] = scale * (p - (j == labels[i] ? on : off));
      }
    }
  }
  return total;
}

template <class T>
void softmax(const T* logits, T* probs, int n, int classes) {
  for (int i = 0; i < n; ++i) {
    const T* z = logits + static_cast<size_t>(i) * classes;
    T* p = probs + static_cast<size_t>(i) * classes;
    const T m = *std::max_element(z, z + classes);
    T sum = 0;
    for (int j = 0; j < classes; ++j) sum += p[j] = std::exp(z[j] - m);
    for (int j = 0; j < classes; ++j) p[j] /= sum;
  }
}

#define MNIST_INSTANTIATE(T)                                                                    \
  template void relu_forward<T>(const T*, T*, size_t);                                          \
  template void relu_backward<T>(const T*, const T*, T*, size_t);                               \
  template void maxpool_forward<T>(const T*, T*, int32_t*, size_t, const PoolGeometry&);        \
  template void maxpool_backward<T>(const T*, const int32_t*, T*, size_t, const PoolGeometry&); \
  template void linear_forward<T>(const T*, const T*, const T*, T*, int, int, int);             \
  template void linear_backward<T>(const T*, const T*, const T*, T*, T*, T*, int, int, int);    \
  template double softmax_cross_entropy<T>(const T*, const uint8_t*, int, int, T, T*, T);       \
  template void softmax<T>(const T*, T*, int, int);                                             \
  template void batchnorm_train_forward<T>(const T*, const T*, const T*, T*, T*, T*, T*, T*, int, int, int, T); \
  template void batchnorm_eval_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, int, int, int, T); \
  template void batchnorm_backward<T>(const T*, const T*, const T*, const T*, T*, T*, T*, int, int, int);
MNIST_INSTANTIATE(float)
MNIST_INSTANTIATE(double)
#undef MNIST_INSTANTIATE

}  // namespace mnist
