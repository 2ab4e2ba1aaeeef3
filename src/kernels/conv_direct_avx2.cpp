// The direct-convolution kernels for AVX2 and FMA: 16 registers of 8 lanes,
// two to a 16-lane vector. Blockings measured on the course's shapes:
//   correlate: 4 output channels x 2 units of 8 lanes (one 16-lane row);
//   weight gradient: 3 output channels x 4 taps.
//   weight gradient of planes at most 8 wide: 3 channels x 4 taps.
#define MNIST_DIRECT_NS avx2
#define MNIST_DIRECT_WIDTH 8
#define MNIST_DIRECT_ISA "avx2"
#define MNIST_DIRECT_CHANNELS 4
#define MNIST_DIRECT_ROWS 2
#define MNIST_DIRECT_GRAD_CHANNELS 3
#define MNIST_DIRECT_NARROW_REGISTERS 3
#define MNIST_DIRECT_NARROW_TAPS 4
#define MNIST_DIRECT_TAPS 4
#include "kernels/conv_direct_kernels.inc"
