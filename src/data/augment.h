#pragma once
// Random affine distortions of training images (the augmentation of
// Simard et al. 2003 and of most MNIST records since): each image is
// rotated, scaled and shifted about its centre by amounts drawn uniformly
// from the ranges below, and resampled bilinearly; what comes from outside
// the image is background. Drawn from a generator the caller seeds per
// sample, so a batch's images do not depend on the thread that makes them.
// A mirror image (left to right) may be asked for too: it suits
// Fashion-MNIST's clothes, not digits. Cutout (DeVries & Taylor 2017,
// "Improved Regularization of Convolutional Neural Networks with Cutout")
// then blanks a square at a uniformly drawn centre, which may lie near an
// edge so that only part of the square falls on the image.
#include <cstdint>

namespace mnist {

struct AugmentConfig {
  double rotate = 0;  // degrees: the angle is uniform in [-rotate, rotate]
  double zoom = 0;    // the scale is uniform in [1 - zoom, 1 + zoom]
  double shift = 0;   // pixels: each of x and y is uniform in [-shift, shift]
  bool flip = false;  // mirror left to right with probability 1/2 (clothes, not digits)
  int cutout = 0;     // pixels: the side of the square blanked in every image (0: off)
  bool any() const { return rotate != 0 || zoom != 0 || shift != 0 || flip || cutout != 0; }
  bool operator==(const AugmentConfig&) const = default;
};

// out (rows x cols) = in distorted by the draws of a generator seeded with
// seed; background is the value of a blank pixel (the scaled 0).
void augment_image(const float* in, float* out, int rows, int cols, float background, const AugmentConfig& config,
                   uint64_t seed);

}  // namespace mnist
