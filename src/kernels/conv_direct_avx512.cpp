// The direct-convolution kernels for AVX-512: 32 registers of 16 lanes.
// Blockings measured on the course's shapes (kernel_bench):
//   correlate: 5 output channels x 5 row vectors of accumulators;
//   weight gradient: 5 output channels x 5 taps.
//   weight gradient of planes at most 8 wide: 3 registers of two channels x
//   9 taps (a 3x3 kernel's all; 4 x 5 and 4 x 3 measured slower).
#define MNIST_DIRECT_NS avx512
#define MNIST_DIRECT_WIDTH 16
#define MNIST_DIRECT_ISA "avx512"
#define MNIST_DIRECT_CHANNELS 5
#define MNIST_DIRECT_ROWS 5
#define MNIST_DIRECT_GRAD_CHANNELS 5
#define MNIST_DIRECT_NARROW_REGISTERS 3
#define MNIST_DIRECT_NARROW_TAPS 9
#define MNIST_DIRECT_TAPS 5
#include "kernels/conv_direct_kernels.inc"
