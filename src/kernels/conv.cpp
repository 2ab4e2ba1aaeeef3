#include "kernels/conv.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/blas.h"
#include "kernels/conv_direct.h"

namespace mnist {

// Aim for a column block of about 128 Ki floats (512 KiB): it stays in L2.
int ConvGeometry::group() const {
  constexpr size_t kTargetFloats = 128 * 1024;
  const size_t per_sample = static_cast<size_t>(patch()) * out_plane();
  return static_cast<int>(std::max<size_t>(1, kTargetFloats / std::max<size_t>(1, per_sample)));
}

// The direct kernels for g, or null when g takes im2col + GEMM.
template <class T>
static const direct::Kernels* direct_kernels(const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (direct::supports(g)) return direct::best();
  }
  return nullptr;
}

// im2col: for one group, col (K x gP), then y or dy in GEMM order (OC x gP).
// Backward writes dcol (K x gP) over col, once the weight gradient has read it.
template <class T>
size_t conv2d_scratch_size(const ConvGeometry& g, int n) {
  if (direct_kernels<T>(g) != nullptr) return direct::scratch_size(g, n);
  const size_t gp = static_cast<size_t>(std::min(n, g.group())) * g.out_plane();
  return gp * (static_cast<size_t>(g.patch()) + g.out_channels);
}

template <class T>
size_t conv2d_saved_size(const ConvGeometry& g, int n) {
  if (direct_kernels<T>(g) != nullptr) return direct::saved_size(g, n);
  return static_cast<size_t>(g.patch()) * g.out_plane() * n;
}

// The output columns [lo, hi) whose input column ox*stride - pad + kw lies
// inside the image; outside them the window overlaps the padding.
static void valid_columns(const ConvGeometry& g, int kw, int ow, int& lo, int& hi) {
  lo = 0;
  while (lo < ow && lo * g.stride - g.pad + kw < 0) ++lo;
  hi = ow;
  while (hi > lo && (hi - 1) * g.stride - g.pad + kw >= g.width) --hi;
}

// Stride 1 (the course's convolutions) works through a zero-padded copy of
// each input plane, so that every row of the patch matrix is a plain copy of
// ow values with no bounds to check: short rows (14 values for conv2) made
// the checks cost as much as the copies.

// This thread's (H + 2 pad) x (W + 2 pad) plane, zeroed.
template <class T>
static T* padded_plane(const ConvGeometry& g) {
  thread_local std::vector<T> padded;
  padded.assign(static_cast<size_t>(g.height + 2 * g.pad) * (g.width + 2 * g.pad), T(0));
  return padded.data();
}

// An H x W plane into the interior of a padded one, and back.
template <class T>
static void to_padded(const ConvGeometry& g, const T* plane, T* padded) {
  const int pw = g.width + 2 * g.pad;
  for (int y = 0; y < g.height; ++y) std::copy_n(plane + y * g.width, g.width, padded + (y + g.pad) * pw + g.pad);
}
template <class T>
static void from_padded(const ConvGeometry& g, const T* padded, T* plane) {
  const int pw = g.width + 2 * g.pad;
  for (int y = 0; y < g.height; ++y) std::copy_n(padded + (y + g.pad) * pw + g.pad, g.width, plane + y * g.width);
}

template <class T>
static void im2col_stride1(const T* x, int samples, const ConvGeometry& g, T* col) {
  const int oh = g.out_height(), ow = g.out_width(), plane = oh * ow, pw = g.width + 2 * g.pad;
  const size_t row_len = static_cast<size_t>(samples) * plane;
  T* padded = padded_plane<T>(g);  // the border stays zero
  for (int c = 0; c < g.in_channels; ++c) {
    for (int s = 0; s < samples; ++s) {
      const T* src = x + (static_cast<size_t>(s) * g.in_channels + c) * g.height * g.width;
      to_padded(g, src, padded);
      for (int kh = 0; kh < g.kernel; ++kh) {
        for (int kw = 0; kw < g.kernel; ++kw) {
          T* out = col + ((static_cast<size_t>(c) * g.kernel + kh) * g.kernel + kw) * row_len +
                   static_cast<size_t>(s) * plane;
          const T* in = padded + kh * pw + kw;
          for (int y = 0; y < oh; ++y, out += ow, in += pw) {
            for (int xo = 0; xo < ow; ++xo) out[xo] = in[xo];
          }
        }
      }
    }
  }
}

template <class T>
void im2col(const T* x, int samples, const ConvGeometry& g, T* col) {
  if (g.stride == 1) {
    im2col_stride1(x, samples, g, col);
    return;
  }
  const int oh = g.out_height(), ow = g.out_width(), plane = oh * ow;
  const size_t row_len = static_cast<size_t>(samples) * plane;
  for (int c = 0; c < g.in_channels; ++c) {
    for (int kh = 0; kh < g.kernel; ++kh) {
      for (int kw = 0; kw < g.kernel; ++kw) {
        T* row = col + ((static_cast<size_t>(c) * g.kernel + kh) * g.kernel + kw) * row_len;
        int lo, hi;
        valid_columns(g, kw, ow, lo, hi);
        for (int s = 0; s < samples; ++s) {
          const T* src = x + (static_cast<size_t>(s) * g.in_channels + c) * g.height * g.width;
          T* dst = row + static_cast<size_t>(s) * plane;
          for (int y = 0; y < oh; ++y) {
            const int iy = y * g.stride - g.pad + kh;
            T* out = dst + y * ow;
            if (iy < 0 || iy >= g.height) {
              std::fill(out, out + ow, T(0));
              continue;
            }
            const T* in_row = src + iy * g.width - g.pad + kw;
            for (int xo = 0; xo < lo; ++xo) out[xo] = T(0);
            for (int xo = lo; xo < hi; ++xo) out[xo] = in_row[xo * g.stride];
            for (int xo = hi; xo < ow; ++xo) out[xo] = T(0);
          }
        }
      }
    }
  }
}

// The adjoint of im2col_stride1: accumulate into a padded plane that starts
// as dx, then copy its interior back. Each element receives its terms in
// the same (kh, kw) order as the general loop, so the sums are the same to
// the bit.
template <class T>
static void col2im_add_stride1(const T* dcol, int samples, const ConvGeometry& g, T* dx) {
  const int oh = g.out_height(), ow = g.out_width(), plane = oh * ow, pw = g.width + 2 * g.pad;
  const size_t row_len = static_cast<size_t>(samples) * plane;
  T* padded = padded_plane<T>(g);
  for (int c = 0; c < g.in_channels; ++c) {
    for (int s = 0; s < samples; ++s) {
      T* dst = dx + (static_cast<size_t>(s) * g.in_channels + c) * g.height * g.width;
      to_padded(g, dst, padded);
      for (int kh = 0; kh < g.kernel; ++kh) {
        for (int kw = 0; kw < g.kernel; ++kw) {
          const T* in = dcol + ((static_cast<size_t>(c) * g.kernel + kh) * g.kernel + kw) * row_len +
                        static_cast<size_t>(s) * plane;
          T* out = padded + kh * pw + kw;
          for (int y = 0; y < oh; ++y, in += ow, out += pw) {
            for (int xo = 0; xo < ow; ++xo) out[xo] += in[xo];
          }
        }
      }
      from_padded(g, padded, dst);
    }
  }
}

template <class T>
void col2im_add(const T* dcol, int samples, const ConvGeometry& g, T* dx) {
  if (g.stride == 1) {
    col2im_add_stride1(dcol, samples, g, dx);
    return;
  }
  const int oh = g.out_height(), ow = g.out_width(), plane = oh * ow;
  const size_t row_len = static_cast<size_t>(samples) * plane;
  for (int c = 0; c < g.in_channels; ++c) {
    for (int kh = 0; kh < g.kernel; ++kh) {
      for (int kw = 0; kw < g.kernel; ++kw) {
        const T* row = dcol + ((static_cast<size_t>(c) * g.kernel + kh) * g.kernel + kw) * row_len;
        int lo, hi;
        valid_columns(g, kw, ow, lo, hi);
        for (int s = 0; s < samples; ++s) {
          T* dst = dx + (static_cast<size_t>(s) * g.in_channels + c) * g.height * g.width;
          const T* src = row + static_cast<size_t>(s) * plane;
          for (int y = 0; y < oh; ++y) {
            const int iy = y * g.stride - g.pad + kh;
            if (iy < 0 || iy >= g.height) continue;
            T* out_row = dst + iy * g.width - g.pad + kw;
            const T* in = src + y * ow;
            for (int xo = lo; xo < hi; ++xo) out_row[xo * g.stride] += in[xo];
          }
        }
      }
    }
  }
}

template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n, const ConvGeometry& g, T* scratch,
                    T* saved) {
  if constexpr (std::is_same_v<T, float>) {
    if (const direct::Kernels* k = direct_kernels<T>(g)) {
      direct::conv2d_forward(*k, x, weight, bias, y, n, g, scratch, saved);
      return;
    }
  }
  const int K = g.patch(), P = g.out_plane(), OC = g.out_channels;
  const size_t in_size = static_cast<size_t>(g.in_channels) * g.height * g.width;
  const int group = std::min(n, g.group());
  T* col = scratch;
  T* out = col + static_cast<size_t>(K) * group * P;
  for (int s0 = 0; s0 < n; s0 += group) {
    const int gs = std::min(group, n - s0);
    if (saved != nullptr) col = saved + static_cast<size_t>(s0) * K * P;
    im2col(x + s0 * in_size, gs, g, col);
    if (gs == 1) {
      // One sample: GEMM order (oc, p) is NCHW already. Start from the bias.
      T* dst = y + static_cast<size_t>(s0) * OC * P;
      for (int oc = 0; oc < OC; ++oc)
        std::fill(dst + static_cast<size_t>(oc) * P, dst + static_cast<size_t>(oc + 1) * P, bias[oc]);
      gemm<T>(false, false, OC, P, K, T(1), weight, K, col, P, T(1), dst, P);
      continue;
    }
    // out (OC x gs*P) = weight (OC x K) * col (K x gs*P)
    gemm<T>(false, false, OC, gs * P, K, T(1), weight, K, col, gs * P, T(0), out, gs * P);
    // Scatter from GEMM order (oc, s, p) to NCHW (s, oc, p), adding the bias.
    for (int s = 0; s < gs; ++s) {
      for (int oc = 0; oc < OC; ++oc) {
        const T* src = out + (static_cast<size_t>(oc) * gs + s) * P;
        T* dst = y + ((static_cast<size_t>(s0) + s) * OC + oc) * P;
        for (int p = 0; p < P; ++p) dst[p] = src[p] + bias[oc];
      }
    }
  }
}

template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n,
                     const ConvGeometry& g, T* scratch, const T* saved) {
  if constexpr (std::is_same_v<T, float>) {
    if (const direct::Kernels* k = direct_kernels<T>(g)) {
      direct::conv2d_backward(*k, x, weight, dy, dx, dweight, dbias, n, g, scratch, saved);
      return;
    }
  }
  if (dx != nullptr) std::fill(dx, dx + static_cast<size_t>(n) * g.in_channels * g.height * g.width, T(0));
  const int K = g.patch(), P = g.out_plane(), OC = g.out_channels;
  const size_t in_size = static_cast<size_t>(g.in_channels) * g.height * g.width;
  const int group = std::min(n, g.group());
  T* col_scratch = scratch;
  T* dout = col_scratch + static_cast<size_t>(K) * group * P;
  T* dcol = col_scratch;  // col is read by the weight gradient before dcol is written
  for (int s0 = 0; s0 < n; s0 += group) {
    const int gs = std::min(group, n - s0);
    // dy in GEMM order (oc, s, p): for one sample that is dy itself,
    // otherwise gathered. The bias gradient sums it.
    const T* grad_out = dy + static_cast<size_t>(s0) * OC * P;
    if (gs > 1) {
      for (int oc = 0; oc < OC; ++oc) {
        for (int s = 0; s < gs; ++s) {
          const T* src = dy + ((static_cast<size_t>(s0) + s) * OC + oc) * P;
          std::copy(src, src + P, dout + (static_cast<size_t>(oc) * gs + s) * P);
        }
      }
      grad_out = dout;
    }
    for (int oc = 0; oc < OC; ++oc) {
      const T* src = grad_out + static_cast<size_t>(oc) * gs * P;
      T sum = 0;
      for (int i = 0; i < gs * P; ++i) sum += src[i];
      dbias[oc] += sum;
    }
    const T* col = col_scratch;
    if (saved != nullptr) {
      col = saved + static_cast<size_t>(s0) * K * P;
    } else {
      im2col(x + s0 * in_size, gs, g, col_scratch);
    }
    // dweight (OC x K) += dout (OC x gs*P) * col^T (gs*P x K)
    gemm<T>(false, true, OC, K, gs * P, T(1), grad_out, gs * P, col, gs * P, T(1), dweight, K);
    if (dx != nullptr) {
      // dcol (K x gs*P) = weight^T (K x OC) * dout (OC x gs*P)
      gemm<T>(true, false, K, gs * P, OC, T(1), weight, K, grad_out, gs * P, T(0), dcol, gs * P);
      col2im_add(dcol, gs, g, dx + s0 * in_size);
    }
  }
}

#define MNIST_INSTANTIATE(T)                                                                           \
  template size_t conv2d_scratch_size<T>(const ConvGeometry&, int);                                    \
  template size_t conv2d_saved_size<T>(const ConvGeometry&, int);                                      \
  template void im2col<T>(const T*, int, const ConvGeometry&, T*);                                     \
  template void col2im_add<T>(const T*, int, const ConvGeometry&, T*);                                 \
  template void conv2d_forward<T>(const T*, const T*, const T*, T*, int, const ConvGeometry&, T*, T*); \
  template void conv2d_backward<T>(const T*, const T*, const T*, T*, T*, T*, int, const ConvGeometry&, T*, const T*);
MNIST_INSTANTIATE(float)
MNIST_INSTANTIATE(double)
#undef MNIST_INSTANTIATE

}  // namespace mnist
