#include "io/image.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

namespace {

constexpr int kMaxSide = 16384;
constexpr long kMaxPixels = 64L << 20;

// The median grey level of the image's outermost rows and columns.
float border_level(const GrayImage& img) {
  std::vector<float> border;
  for (int x = 0; x < img.width; ++x) {
    border.push_back(img.pixels[x]);
    border.push_back(img.pixels[static_cast<size_t>(img.height - 1) * img.width + x]);
  }
  for (int y = 0; y < img.height; ++y) {
    border.push_back(img.pixels[static_cast<size_t>(y) * img.width]);
    border.push_back(img.pixels[static_cast<size_t>(y) * img.width + img.width - 1]);
  }
  std::nth_element(border.begin(), border.begin() + border.size() / 2, border.end());
  return border[border.size() / 2];
}

}  // namespace

GrayImage decode_image(std::string_view bytes, const std::string& what) {
  if (bytes.empty()) throw Error(what + ": file is empty");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 0x7fffffff));
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &channels)) {
    throw Error(fmt::format("{}: not a readable PNG, JPEG or BMP image ({})", what, stbi_failure_reason()));
  }
  if (w <= 0 || h <= 0) throw Error(fmt::format("{}: image has zero size", what));
  if (w > kMaxSide || h > kMaxSide || static_cast<long>(w) * h > kMaxPixels) {
    throw Error(fmt::format("{}: image is {}x{}, larger than this program accepts ({} pixels a side, "
                            "{} megapixels)", what, w, h, kMaxSide, kMaxPixels >> 20));
  }
  // Grey + alpha, so a digit drawn on a transparent background is not lost.
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &channels, 2),
                                              stbi_image_free);
  if (!px) throw Error(fmt::format("{}: cannot decode image ({})", what, stbi_failure_reason()));
  GrayImage img{w, h, std::vector<float>(static_cast<size_t>(w) * h)};
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    const float grey = px.get()[2 * i], alpha = px.get()[2 * i + 1] / 255.0f;
    img.pixels[i] = grey * alpha + 255.0f * (1.0f - alpha);
  }
  return img;
}

GrayImage read_image(const std::string& path) { return decode_image(read_file(path), path); }

std::vector<float> preprocess_digit(const GrayImage& image, const std::string& what, int size,
                                    int box) {
  GrayImage img = image;
  // Make the ink bright on a dark background.
  float background = border_level(img);
  if (background > 127.5f) {
    for (float& v : img.pixels) v = 255.0f - v;
    background = 255.0f - background;
  }
  const float ink = *std::max_element(img.pixels.begin(), img.pixels.end());
  if (ink - background < 32.0f) {
    throw Error(fmt::format("{}: no digit found (the image has almost no contrast)", what));
  }
  // Stretch background..ink to 0..255; what is close to the background
  // (paper texture, shadows) becomes exactly 0, as in MNIST.
  constexpr float kNoise = 0.15f;
  int top = img.height, bottom = -1, left = img.width, right = -1;
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      float& v = img.pixels[static_cast<size_t>(y) * img.width + x];
      const float t = std::clamp((v - background) / (ink - background), 0.0f, 1.0f);
      v = t < kNoise ? 0.0f : 255.0f * t;
      if (t >= 0.5f) {
        top = std::min(top, y), bottom = std::max(bottom, y);
        left = std::min(left, x), right = std::max(right, x);
      }
    }
  }
  // Crop to the ink and fit it into box x box, keeping the aspect ratio.
  const int cw = right - left + 1, ch = bottom - top + 1;
  const float fit = static_cast<float>(box) / static_cast<float>(std::max(cw, ch));
  const int bw = std::max(1, static_cast<int>(std::lround(cw * fit)));
  const int bh = std::max(1, static_cast<int>(std::lround(ch * fit)));
  std::vector<float> fitted(static_cast<size_t>(bw) * bh);
  const float* crop = img.pixels.data() + static_cast<size_t>(top) * img.width + left;
  if (!stbir_resize_float(crop, cw, ch, img.width * static_cast<int>(sizeof(float)), fitted.data(), bw,
                          bh, 0, 1)) {
    throw Error(what + ": cannot resize the image");
  }
  double mass = 0, my = 0, mx = 0;
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      float& v = fitted[static_cast<size_t>(y) * bw + x];
      v = std::clamp(v, 0.0f, 255.0f);  // the resampling filter may overshoot
      mass += v, my += v * y, mx += v * x;
    }
  }
  // Place it so that the centre of mass lands on the field's centre.
  const double centre = (size - 1) / 2.0;
  const int oy = static_cast<int>(std::lround(centre - my / mass));
  const int ox = static_cast<int>(std::lround(centre - mx / mass));
  std::vector<float> out(static_cast<size_t>(size) * size, 0.0f);
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      const int ty = y + oy, tx = x + ox;
      if (ty >= 0 && ty < size && tx >= 0 && tx < size) {
        out[static_cast<size_t>(ty) * size + tx] = fitted[static_cast<size_t>(y) * bw + x];
      }
    }
  }
  return out;
}

}  // namespace mnist
