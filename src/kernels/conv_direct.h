#pragma once
// Direct convolution for "same" convolutions (stride 1, odd kernel, pad
// (K-1)/2), the course's and the recipes' layers, in single precision. It
// computes straight from zero-padded copies of the planes, with no patch
// matrix and no packing, sixteen output pixels of a row at a time, or, on
// planes at most 8 wide, sixteen positions along the flattened plane.
//
// Every output value is summed in one fixed order with fused multiply-adds,
// whatever the vector width: the AVX-512 and the AVX2 builds of the kernels
// give the same bits, and so does the scalar reference
// (reference::direct_*), which tests compare them with exactly.
#include <cstddef>

namespace mnist {

struct ConvGeometry;

namespace direct {

// Lanes per logical vector. AVX-512 holds one in a register, AVX2 two.
constexpr int kLanes = 16;
// The weight gradient sums groups of this many samples at a time (so that
// their planes stay in the L1 cache) and adds each group's sum to dw.
constexpr int kGradSamples = 4;

// The padded layout of one plane: rows of `pitch` floats, the image at
// (pad, pad), zeros around it and past it, so the kernels never check
// bounds. Two ways to cover the output with 16-lane vectors:
// - by rows (planes wider than 8): each output row takes `vectors` whole
//   vectors, and a row is wide enough for them plus the kernel's reach;
// - flat (`narrow`, planes at most 8 wide, like a 7x7 plane): the rows sit
//   tightly (pitch = width + 2 pad, at least 8) and `vectors` vectors run along the
//   flattened plane, one lane per position y * pitch + x; the lanes that
//   fall in the padding columns are computed and dropped. A 7x7 output
//   takes 4 vectors instead of 7. The weight gradient then works on 8-lane
//   rows, two output channels to a 16-lane register.
// Every output value and every gradient sum is added in the same order
// either way (the scalar reference knows nothing of the layout), so finite
// inputs give the same bits (reference.h says what an infinite one does).
// Plain data with no member functions (not even an implicit constructor
// that does work): the kernels' instruction-set builds must not emit inline
// code that the linker could share with the rest of the program.
struct Plan {
  int channels, out_channels, kernel, pad, height, width;
  int narrow;    // 1 for the flat layout, 0 by rows
  int vectors;   // 16-lane vectors per output row (by rows) or per plane (flat)
  int pitch;     // floats per padded row: vectors * 16 + 2 pad by rows, max(width + 2 pad, 8) flat
  int rows;      // padded rows: height + 2 pad
  size_t plane;  // floats per padded plane, a multiple of 16 that covers every read
};

// Planes at most this wide take the flat layout (when it needs no more
// vectors than rows would).
constexpr int kNarrowWidth = 8;

// Whether g is a convolution these kernels compute.
bool supports(const ConvGeometry& g);
// The plan for g's input planes; swap the channel counts for the backward
// pass (its "input" is the output gradient).
Plan plan_for(const ConvGeometry& g);

// The kernels one instruction set provides.
struct Kernels {
  const char* isa;
  // Zero-padded copies of count planes (height x width, consecutive) into
  // p's layout, one plane every p.plane floats.
  void (*pad_planes)(const float* x, long count, const Plan& p, float* padded);
  // out (OC unpadded planes) = bias (0 if null) + w (*) in, where in holds
  // p.channels padded planes and w is (OC, C, K, K).
  void (*correlate)(const float* in, const float* w, const float* bias, float* out, const Plan& p);
  // dw (OC, C, K, K) += sum over the n samples of dy (*) in. in holds n x C
  // padded planes, dy n x OC planes padded the same way.
  void (*weight_grad)(const float* in, const float* dy, int n, float* dw, const Plan& p);
  // db (OC) += the sum over the n samples of dy (n x OC padded planes).
  void (*bias_grad)(const float* dy, int n, float* db, const Plan& p);
  // maxpool_forward (layers.h) over 2x2 windows with stride 2, for planes of
  // height x width: the same outputs and argmax, to the bit.
  void (*maxpool2x2)(const float* x, float* y, int* argmax, long planes, int height, int width);
  // maxpool_backward (layers.h) for maxpool2x2's argmax: dx = 0, then
  // dx[argmax] += dy, to the bit, each dx written once.
  void (*maxpool2x2_backward)(const float* dy, const int* argmax, float* dx, long planes, int height, int width);
};

// The fastest kernels this CPU runs, or null (no AVX2 and FMA): the caller
// then falls back to im2col + GEMM.
const Kernels* best();
// Every build of the kernels this CPU can run, for tests and benchmarks.
const Kernels* const* available(int& count);

// conv2d_forward and conv2d_backward (conv.h) with kernels k, for a g that
// supports() accepts; scratch and saved are sized by these.
size_t scratch_size(const ConvGeometry& g, int n);
size_t saved_size(const ConvGeometry& g, int n);
void conv2d_forward(const Kernels& k, const float* x, const float* weight, const float* bias, float* y, int n,
                    const ConvGeometry& g, float* scratch, float* saved);
void conv2d_backward(const Kernels& k, const float* x, const float* weight, const float* dy, float* dx, float* dweight,
                     float* dbias, int n, const ConvGeometry& g, float* scratch, const float* saved);

// The backward pass correlates the output gradient with the weights
// transposed and flipped: wt[c][oc][ky][kx] = w[oc][c][K-1-ky][K-1-kx].
void flip_weights(const float* w, int out_channels, int channels, int kernel, float* wt);

}  // namespace direct
}  // namespace mnist
