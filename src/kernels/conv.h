#pragma once
// 2-D convolution (cross-correlation, as in PyTorch) over NCHW batches.
// In single precision, "same" convolutions (the course's) run the direct
// kernels of conv_direct.h when the CPU has AVX2 and FMA. Everything else is
// im2col + GEMM, with samples in groups so that the column buffer stays small
// enough for the cache. Neither path's arithmetic depends on the thread
// count, so results are reproducible.
#include <cstddef>

namespace mnist {

struct ConvGeometry {
  int in_channels = 0, height = 0, width = 0;  // input plane
  int out_channels = 0, kernel = 0, stride = 1, pad = 0;

  int out_height() const { return (height + 2 * pad - kernel) / stride + 1; }
  int out_width() const { return (width + 2 * pad - kernel) / stride + 1; }
  int patch() const { return in_channels * kernel * kernel; }   // GEMM K
  int out_plane() const { return out_height() * out_width(); }  // per-sample P
  int group() const;                                            // samples per im2col block
};

// Floats of scratch that conv2d_forward/backward need for a batch of n.
template <class T>
size_t conv2d_scratch_size(const ConvGeometry& g, int n);

// col (patch x samples*P): column (s, oh, ow) holds the input window of
// output pixel (oh, ow) of sample s, zero where it overlaps the padding.
template <class T>
void im2col(const T* x, int samples, const ConvGeometry& g, T* col);
// The adjoint of im2col: dx += scatter of dcol.
template <class T>
void col2im_add(const T* dcol, int samples, const ConvGeometry& g, T* dx);

// Floats that training keeps from the forward pass for the backward pass,
// instead of building them twice: the padded input planes (direct kernels)
// or the im2col columns of all n samples.
template <class T>
size_t conv2d_saved_size(const ConvGeometry& g, int n);

// x (n,C,H,W), weight (OC,C,K,K), bias (OC) -> y (n,OC,OH,OW)
// If saved is not null, what the backward pass needs is left there.
template <class T>
void conv2d_forward(const T* x, const T* weight, const T* bias, T* y, int n, const ConvGeometry& g, T* scratch,
                    T* saved = nullptr);

// Accumulates dweight (OC,C,K,K) and dbias (OC), and writes dx (n,C,H,W)
// unless it is null (the first layer needs no input gradient). saved,
// if not null, is what the forward pass of x left.
template <class T>
void conv2d_backward(const T* x, const T* weight, const T* dy, T* dx, T* dweight, T* dbias, int n,
                     const ConvGeometry& g, T* scratch, const T* saved = nullptr);

}  // namespace mnist
