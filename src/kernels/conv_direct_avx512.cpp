// The direct-convolution kernels for AVX-512 (32 vector registers: 4 output
// channels x 6 row vectors of accumulators in the forward pass).
#define MNIST_DIRECT_NS avx512
#define MNIST_DIRECT_WIDTH 16
#define MNIST_DIRECT_ISA "avx512"
#define MNIST_DIRECT_CHANNELS 5
#define MNIST_DIRECT_ROWS 5
#define MNIST_DIRECT_GRAD_CHANNELS 4
#define MNIST_DIRECT_TAPS 5
#include "kernels/conv_direct_kernels.inc"
