#include "data/augment.h"

#include <algorithm>
#include <cmath>

#include "util/rng.h"

namespace mnist {

void augment_image(const float* in, float* out, int rows, int cols, float background, const AugmentConfig& config,
                   uint64_t seed) {
  Rng rng(seed);
  // Seven draws always, in this order, so that each range's value does not
  // depend on whether the others are on.
  const double pi = 3.14159265358979323846;
  const double angle = config.rotate * pi / 180 * (2 * static_cast<double>(rng.uniform()) - 1);
  const double scale = 1 + config.zoom * (2 * static_cast<double>(rng.uniform()) - 1);
  const double dx = config.shift * (2 * static_cast<double>(rng.uniform()) - 1);
  const double dy = config.shift * (2 * static_cast<double>(rng.uniform()) - 1);
  const bool mirror = rng.uniform() < 0.5f && config.flip;
  const float cut_x = rng.uniform(), cut_y = rng.uniform();
  // Output pixel p maps to input pixel c + R(-angle) (p - c - d) / scale,
  // c the centre: the image is scaled and rotated about c, then shifted.
  const double cx = (cols - 1) / 2.0, cy = (rows - 1) / 2.0;
  const double cs = std::cos(angle) / scale, sn = std::sin(angle) / scale;
  auto pixel = [&](int y, int x) { return y >= 0 && y < rows && x >= 0 && x < cols ? in[y * cols + x] : background; };
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      // The mirror image is sampled at the mirrored column.
      const double u = (mirror ? cols - 1 - x : x) - cx - dx, v = y - cy - dy;
      const double sx = cx + cs * u + sn * v, sy = cy - sn * u + cs * v;
      const double fx = std::floor(sx), fy = std::floor(sy);
      const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
      const float ax = static_cast<float>(sx - fx), ay = static_cast<float>(sy - fy);
      if (x0 < -1 || x0 >= cols || y0 < -1 || y0 >= rows) {
        out[y * cols + x] = background;
        continue;
      }
      const float top = pixel(y0, x0) + ax * (pixel(y0, x0 + 1) - pixel(y0, x0));
      const float bottom = pixel(y0 + 1, x0) + ax * (pixel(y0 + 1, x0 + 1) - pixel(y0 + 1, x0));
      out[y * cols + x] = top + ay * (bottom - top);
    }
  }
  if (config.cutout > 0) {
    // The square's centre is uniform over the pixels; its top-left corner
    // is side / 2 up and to the left of it.
    const int x0 = std::min(static_cast<int>(cut_x * static_cast<float>(cols)), cols - 1) - config.cutout / 2;
    const int y0 = std::min(static_cast<int>(cut_y * static_cast<float>(rows)), rows - 1) - config.cutout / 2;
    for (int y = std::max(y0, 0); y < std::min(y0 + config.cutout, rows); ++y) {
      for (int x = std::max(x0, 0); x < std::min(x0 + config.cutout, cols); ++x) out[y * cols + x] = background;
    }
  }
}

}  // namespace mnist
