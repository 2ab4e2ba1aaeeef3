// The direct-convolution kernels for AVX2 and FMA (16 registers, each half a
// 16-lane vector: 2 output channels x 3 row vectors of accumulators).
#define MNIST_DIRECT_NS avx2
#define MNIST_DIRECT_WIDTH 8
#define MNIST_DIRECT_ISA "avx2"
#define MNIST_DIRECT_CHANNELS 4
#define MNIST_DIRECT_ROWS 2
#define MNIST_DIRECT_GRAD_CHANNELS 2
#define MNIST_DIRECT_TAPS 5
#include "kernels/conv_direct_kernels.inc"
