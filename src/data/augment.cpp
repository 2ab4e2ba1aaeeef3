#include "data/augment.h"

#include <cmath>

#include "util/rng.h"

namespace mnist {

void augment_image(const float* in, float* out, int rows, int cols, float background, const AugmentConfig& config,
                   uint64_t seed) {
  Rng rng(seed);
  // Four draws always, in this order, so that each range's value does not
  // depend on whether the others are on.
  const double pi = 3.14159265358979323846;
  const double angle = config.rotate * pi / 180 * (2 * static_cast<double>(rng.uniform()) - 1);
  const double scale = 1 + config.zoom * (2 * static_cast<double>(rng.uniform()) - 1);
  const double dx = config.shift * (2 * static_cast<double>(rng.uniform()) - 1);
  const double dy = config.shift * (2 * static_cast<double>(rng.uniform()) - 1);
  const bool mirror = config.flip && rng.uniform() < 0.5f;
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
}

}  // namespace mnist
