#include "io/image.h"

#include <fmt/format.h>
#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

namespace {

constexpr int kMaxSide = 16384;
constexpr long kMaxPixels = 64L << 20;

// ---------------------------------------------------------------------------
// EXIF orientation. Phones store a photo as the sensor saw it and record in
// the JPEG's EXIF block how to turn it upright; every viewer applies it, and
// stb_image does not.

// Reads 16- and 32-bit values of either byte order from a TIFF block; false
// when the value would lie outside it.
struct TiffReader {
  std::string_view data;
  bool big_endian = false;

  bool read(size_t at, int bytes, uint32_t& value) const {
    if (at > data.size() || data.size() - at < static_cast<size_t>(bytes)) return false;
    value = 0;
    for (int i = 0; i < bytes; ++i) {
      const uint32_t byte = static_cast<unsigned char>(data[at + (big_endian ? i : bytes - 1 - i)]);
      value = value << 8 | byte;
    }
    return true;
  }
};

// The Orientation tag (0x0112) of the first IFD of an EXIF TIFF block, or 1.
int tiff_orientation(std::string_view tiff) {
  if (tiff.size() < 8 || (tiff.substr(0, 2) != "II" && tiff.substr(0, 2) != "MM")) return 1;
  const TiffReader r{tiff, tiff[0] == 'M'};
  uint32_t magic = 0, ifd = 0, count = 0;
  if (!r.read(2, 2, magic) || magic != 42 || !r.read(4, 4, ifd) || !r.read(ifd, 2, count)) return 1;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = ifd + 2 + 12 * static_cast<size_t>(i);
    uint32_t tag = 0, type = 0, value = 0;
    if (!r.read(entry, 2, tag) || !r.read(entry + 2, 2, type)) return 1;
    if (tag != 0x0112) continue;
    // A SHORT (type 3) stored in the first two bytes of the value field.
    if (type != 3 || !r.read(entry + 8, 2, value) || value < 1 || value > 8) return 1;
    return static_cast<int>(value);
  }
  return 1;
}

// The EXIF orientation of a JPEG (1..8), or 1 when it has none: the marker
// segments before the image data are walked until an APP1 "Exif" segment.
int exif_orientation(std::string_view bytes) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (bytes.size() < 4 || byte(0) != 0xFF || byte(1) != 0xD8) return 1;
  size_t pos = 2;
  while (pos + 4 <= bytes.size() && byte(pos) == 0xFF) {
    const int marker = byte(pos + 1);
    if (marker == 0xFF) {  // a fill byte before a marker
      ++pos;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) break;  // start of scan or end: no more headers
    const size_t length = static_cast<size_t>(byte(pos + 2)) << 8 | byte(pos + 3);
    if (length < 2 || pos + 2 + length > bytes.size()) break;
    const std::string_view segment = bytes.substr(pos + 4, length - 2);
    if (marker == 0xE1 && segment.substr(0, 6) == std::string_view("Exif\0\0", 6)) {
      return tiff_orientation(segment.substr(6));
    }
    pos += 2 + length;
  }
  return 1;
}

// The image as a viewer shows it: EXIF orientations 2..8 flip, rotate or
// transpose the stored pixels (5..8 swap width and height).
GrayImage oriented(const GrayImage& img, int orientation) {
  if (orientation <= 1 || orientation > 8) return img;
  const int w = img.width, h = img.height;
  const bool swap = orientation >= 5;
  GrayImage out{swap ? h : w, swap ? w : h, std::vector<float>(img.pixels.size())};
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;  // the stored pixel shown at (x, y)
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;
        case 3:
          sx = w - 1 - x, sy = h - 1 - y;
          break;
        case 4:
          sy = h - 1 - y;
          break;
        case 5:
          sx = y, sy = x;
          break;
        case 6:
          sx = y, sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y, sy = h - 1 - x;
          break;
        case 8:
          sx = w - 1 - y, sy = x;
          break;
      }
      out.pixels[static_cast<size_t>(y) * out.width + x] = img.pixels[static_cast<size_t>(sy) * w + sx];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Filters on grey images. Each costs a bounded amount per pixel whatever its
// window (the thumbnail median: k), and treats the image's edge as described.

size_t index(const GrayImage& img, int x, int y) { return static_cast<size_t>(y) * img.width + x; }

// The median of some values (the upper one of an even count); reorders them.
float median_of(std::vector<float>& values) {
  auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

// Every n-th value, so that at most about 2^14 are left: enough for a
// median or a spread, at a fraction of the cost on a large image.
std::vector<float> sample(const std::vector<float>& values) {
  const size_t step = std::max<size_t>(1, values.size() >> 14);
  std::vector<float> out;
  out.reserve(values.size() / step + 1);
  for (size_t i = 0; i < values.size(); i += step) out.push_back(values[i]);
  return out;
}

// The q-quantile (0..1) of some values, nearest rank; reorders them.
float quantile(std::vector<float>& values, double q) {
  const auto rank = static_cast<std::ptrdiff_t>(std::lround(q * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + rank, values.end());
  return values[static_cast<size_t>(rank)];
}

// The mean of the n largest values; reorders them.
float mean_of_largest(std::vector<float>& values, size_t n) {
  n = std::min(n, values.size());
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(n - 1), values.end(), std::greater<>());
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += values[i];
  return static_cast<float>(sum / static_cast<double>(n));
}

// Mean of factor x factor blocks; blocks cut by the right and bottom edges
// average the pixels they have.
GrayImage shrink(const GrayImage& img, int factor) {
  if (factor <= 1) return img;
  const int w = (img.width + factor - 1) / factor, h = (img.height + factor - 1) / factor;
  GrayImage out{w, h, std::vector<float>(static_cast<size_t>(w) * h, 0.0f)};
  std::vector<float> count(out.pixels.size(), 0.0f);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      const size_t o = index(out, x / factor, y / factor);
      out.pixels[o] += img.pixels[index(img, x, y)];
      count[o] += 1.0f;
    }
  }
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] /= count[i];
  return out;
}

// The pixel noise's standard deviation, from the median absolute deviation
// of horizontal neighbour differences: strokes and shading barely move it.
float noise_level(const GrayImage& img) {
  if (img.width < 2) return 0.0f;
  std::vector<float> diffs;
  diffs.reserve(static_cast<size_t>(img.width - 1) * img.height);
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x + 1 < img.width; ++x)
      diffs.push_back(img.pixels[index(img, x + 1, y)] - img.pixels[index(img, x, y)]);
  }
  diffs = sample(diffs);
  const float centre = median_of(diffs);
  for (float& d : diffs) d = std::abs(d - centre);
  return 1.4826f * median_of(diffs) / std::sqrt(2.0f);
}

// Median of each 3x3 neighbourhood, the edge pixels repeated beyond the edge.
GrayImage median3(const GrayImage& img) {
  GrayImage out = img;
  float window[9];
  for (int y = 0; y < img.height; ++y) {
    for (int x = 0; x < img.width; ++x) {
      int n = 0;
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          window[n++] =
              img.pixels[index(img, std::clamp(x + dx, 0, img.width - 1), std::clamp(y + dy, 0, img.height - 1))];
        }
      }
      std::nth_element(window, window + 4, window + 9);
      out.pixels[index(img, x, y)] = window[4];
    }
  }
  return out;
}

// Applies f to every row (as a line of width values, one apart) and then to
// every column (height values, width apart).
template <class LineFilter>
void for_rows_then_columns(GrayImage& img, LineFilter f) {
  for (int y = 0; y < img.height; ++y) f(img.pixels.data() + index(img, 0, y), img.width, std::ptrdiff_t{1});
  for (int x = 0; x < img.width; ++x) f(img.pixels.data() + x, img.height, std::ptrdiff_t{img.width});
}

// Mean over (2r+1) x (2r+1), the edge pixels repeated beyond the edge:
// running sums along rows, then along columns.
GrayImage box_blur(GrayImage img, int r) {
  std::vector<float> line;
  for_rows_then_columns(img, [&](float* p, int n, std::ptrdiff_t step) {
    line.clear();
    for (int i = 0; i < n; ++i) line.push_back(p[i * step]);
    auto at = [&](int i) { return line[std::clamp(i, 0, n - 1)]; };
    double sum = 0;
    for (int i = -r; i <= r; ++i) sum += at(i);
    for (int i = 0; i < n; ++i) {
      p[i * step] = static_cast<float>(sum / (2 * r + 1));
      sum += at(i + r + 1) - at(i - r);
    }
  });
  return img;
}

// Maximum (or minimum) over a window of k (odd) centred on each value of a
// line, the window cut at the line's ends. van Herk / Gil-Werman: running
// extremes forwards and backwards within blocks of k, so that any window is
// the extreme of one backward and one forward value, whatever k is.
template <class Pick>
void running_extreme(float* p, int n, std::ptrdiff_t step, int k, float none, Pick pick, std::vector<float>& fwd,
                     std::vector<float>& bwd) {
  const int r = k / 2;
  const size_t length = (static_cast<size_t>(n) + 2 * r + k - 1) / k * k;  // padded to whole blocks
  fwd.assign(length, none);
  for (int i = 0; i < n; ++i) fwd[r + i] = p[i * step];
  bwd = fwd;
  for (size_t block = 0; block < length; block += k) {
    for (size_t i = block + 1; i < block + k; ++i) fwd[i] = pick(fwd[i], fwd[i - 1]);
    for (size_t i = block + k - 1; i > block; --i) bwd[i - 1] = pick(bwd[i - 1], bwd[i]);
  }
  for (int i = 0; i < n; ++i) p[i * step] = pick(bwd[i], fwd[i + k - 1]);
}

// Maximum (dilate) or minimum (erode) over k x k squares.
GrayImage square_filter(GrayImage img, int k, bool maximum) {
  std::vector<float> fwd, bwd;
  const float none = maximum ? -INFINITY : INFINITY;
  for_rows_then_columns(img, [&](float* p, int n, std::ptrdiff_t step) {
    if (maximum) {
      running_extreme(
          p, n, step, k, none, [](float a, float b) { return std::max(a, b); }, fwd, bwd);
    } else {
      running_extreme(
          p, n, step, k, none, [](float a, float b) { return std::min(a, b); }, fwd, bwd);
    }
  });
  return img;
}

// Morphological closing: maximum then minimum over k x k. It removes dark
// things narrower than k (the ink) and keeps what is wider, the edges of
// shadows included, where a blur would smear them.
GrayImage closing(const GrayImage& img, int k) { return square_filter(square_filter(img, k, true), k, false); }

// Median over k x k (odd) of grey levels rounded to integers, the edge
// pixels repeated beyond the edge. A histogram of the window slides along
// each row (Huang's method): one column leaves and one enters at each step.
GrayImage median_filter(const GrayImage& img, int k) {
  GrayImage out = img;
  const int half = k / 2, count = k * k;
  auto level = [&](int x, int y) {
    const float v = img.pixels[index(img, std::clamp(x, 0, img.width - 1), std::clamp(y, 0, img.height - 1))];
    return std::clamp(static_cast<int>(std::lround(v)), 0, 255);
  };
  for (int y = 0; y < img.height; ++y) {
    std::array<int, 256> hist{};
    for (int dy = -half; dy <= half; ++dy) {
      for (int dx = -half; dx <= half; ++dx) ++hist[level(dx, y + dy)];
    }
    for (int x = 0; x < img.width; ++x) {
      if (x > 0) {
        for (int dy = -half; dy <= half; ++dy) --hist[level(x - 1 - half, y + dy)], ++hist[level(x + half, y + dy)];
      }
      int median = 0;
      for (int seen = hist[0]; 2 * seen <= count; seen += hist[++median]) {
      }
      out.pixels[index(img, x, y)] = static_cast<float>(median);
    }
  }
  return out;
}

// A shrunken copy with at most `side` pixels a side.
GrayImage thumbnail(const GrayImage& img, int side) {
  return shrink(img, (std::max(img.width, img.height) + side - 1) / side);
}

// ---------------------------------------------------------------------------
// Finding the digit.

constexpr int kWorkSide = 1024;     // larger images are shrunk to this many pixels a side
constexpr float kMinContrast = 12;  // grey levels between ink and paper below which there is no digit

// Already as MNIST's digits are: size x size, a dark background, bright ink,
// an empty edge, the centre of mass at the centre. Such an image is used as
// it is: preparing it again would re-crop and re-scale a digit already fitted.
bool is_mnist_form(const GrayImage& img, int size) {
  if (img.width != size || img.height != size) return false;
  std::vector<float> values = img.pixels;
  const float brightest = *std::max_element(values.begin(), values.end());
  if (median_of(values) > 16 || brightest < 128) return false;
  double ring = 0, mass = 0, my = 0, mx = 0;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const float v = img.pixels[index(img, x, y)];
      if (x == 0 || y == 0 || x == size - 1 || y == size - 1) ring += v;
      mass += v, my += v * y, mx += v * x;
    }
  }
  const double centre = (size - 1) / 2.0;
  return ring / std::max(1, 4 * (size - 1)) <= 16 && std::abs(my / mass - centre) <= 1.5 &&
         std::abs(mx / mass - centre) <= 1.5;
}

// Median 3x3 filtering when the image is noisy, twice when very noisy:
// single noisy pixels would otherwise pass for ink, or break the strokes.
GrayImage denoised(GrayImage img) {
  const float sigma = noise_level(img);
  if (sigma > 4) img = median3(img);
  if (sigma > 12) img = median3(img);
  return img;
}

// Whether the ink is darker than the paper, from two views that fail in
// different places, summed in grey levels:
//   near: on a 64-pixel thumbnail, how far the most extreme pixels stray
//     below and above a wide local median (the paper); fooled by bold digits
//     that fill the median's window;
//   far: on a 256-pixel thumbnail, how far the darkest and the brightest
//     pixels lie beyond the border's 20th and 80th percentiles (paper touches
//     the border); fooled by a small digit under uneven light.
bool has_dark_ink(const GrayImage& img) {
  const GrayImage near = thumbnail(img, 64);
  const GrayImage paper =
      median_filter(near, std::max(3, static_cast<int>(0.75 * std::min(near.width, near.height)) | 1));
  std::vector<float> below(near.pixels.size()), above(near.pixels.size());
  for (size_t i = 0; i < near.pixels.size(); ++i) below[i] = paper.pixels[i] - near.pixels[i], above[i] = -below[i];
  const size_t n = std::max<size_t>(16, near.pixels.size() / 1000);
  float dark = mean_of_largest(below, n), light = mean_of_largest(above, n);

  const GrayImage far = thumbnail(img, 256);
  std::vector<float> border;
  for (int x = 0; x < far.width; ++x)
    border.push_back(far.pixels[index(far, x, 0)]), border.push_back(far.pixels[index(far, x, far.height - 1)]);
  for (int y = 1; y + 1 < far.height; ++y)
    border.push_back(far.pixels[index(far, 0, y)]), border.push_back(far.pixels[index(far, far.width - 1, y)]);
  const auto [darkest, brightest] = std::minmax_element(far.pixels.begin(), far.pixels.end());
  dark += quantile(border, 0.2) - *darkest;
  light += *brightest - quantile(border, 0.8);
  return dark >= light;
}

// Otsu's threshold of values in [0, 1] over 256 bins: the split that best
// separates two groups (ink from what is only grey).
float otsu(const std::vector<float>& values) {
  std::array<double, 256> hist{};
  for (float v : values) hist[std::clamp(static_cast<int>(v * 256), 0, 255)] += 1;
  double total = 0;
  for (size_t i = 0; i < hist.size(); ++i) total += i * hist[i];
  double below = 0, below_sum = 0, best = -1;
  int split = 0;
  for (int i = 0; i < 256; ++i) {
    below += hist[i], below_sum += i * hist[i];
    const double above = values.size() - below;
    if (below == 0 || above == 0) continue;
    const double gap = below_sum / below - (total - below_sum) / above;
    const double between = below * above * gap * gap;
    if (between > best) best = between, split = i;
  }
  return (split + 1) / 256.0f;
}

// The ink/paper threshold of a ratio image, or nothing when nothing stands
// out. The floor is 4 robust standard deviations (median absolute deviation)
// above the paper's median. Among the pixels above it, Otsu's threshold
// splits ink from what is only grey (the edge of a shadow, a ruled line); it
// is capped at 60% of the ink's peak (99th percentile) so that faint ink all
// of one level is not split in two.
std::optional<float> ink_threshold(const std::vector<float>& ratio) {
  std::vector<float> values = sample(ratio);
  const float centre = median_of(values);
  for (float& v : values) v = std::abs(v - centre);
  const float floor = std::max(0.05f, centre + 4 * 1.4826f * median_of(values));
  std::vector<float> standing_out;
  for (float v : ratio)
    if (v > floor) standing_out.push_back(v);
  if (standing_out.size() < 4) return std::nullopt;
  const float split = otsu(standing_out);
  return std::max(floor, std::min(split, 0.6f * quantile(standing_out, 0.99)));
}

// A bounding box, grown one pixel at a time.
struct Box {
  int left = std::numeric_limits<int>::max(), top = std::numeric_limits<int>::max(), right = -1, bottom = -1;
  void add(int x, int y) {
    left = std::min(left, x), right = std::max(right, x), top = std::min(top, y), bottom = std::max(bottom, y);
  }
  int side() const { return std::max(right - left, bottom - top) + 1; }
  // Pixels between two boxes, 0 when they touch or overlap.
  int gap(const Box& o) const {
    return std::max({o.left - right - 1, left - o.right - 1, o.top - bottom - 1, top - o.bottom - 1, 0});
  }
};

// The pixels of the digit, their box, and the larger side of its largest part.
struct Digit {
  std::vector<uint8_t> mask;
  Box box;
  int size = 0;
};

// The digit: the largest 8-connected component of the ink mask, and the
// components near it (within 30% of its size) that are neither specks (less
// than 5% of its area) nor longer than it (a ruled line, a margin): a digit
// drawn in several strokes stays whole, and specks, smudges and lines do not
// widen the crop. Pixel indices fit an int: the image is at most
// kWorkSide x kWorkSide here.
Digit select_digit(const std::vector<uint8_t>& ink, int width, int height) {
  std::vector<int> label(ink.size(), -1);
  std::vector<long> area;
  std::vector<Box> boxes;
  std::vector<int> stack;
  for (size_t start = 0; start < ink.size(); ++start) {
    if (!ink[start] || label[start] >= 0) continue;
    const int id = static_cast<int>(area.size());
    area.push_back(0), boxes.emplace_back();
    label[start] = id, stack.assign(1, static_cast<int>(start));
    while (!stack.empty()) {
      const int p = stack.back();
      stack.pop_back();
      const int x = p % width, y = p / width;
      ++area[id], boxes[id].add(x, y);
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const int nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const int q = ny * width + nx;
          if (ink[q] && label[q] < 0) label[q] = id, stack.push_back(q);
        }
      }
    }
  }
  MNIST_ASSERT(!area.empty());  // the threshold lies below the ink's peak
  const auto main = static_cast<size_t>(std::max_element(area.begin(), area.end()) - area.begin());
  Digit digit{std::vector<uint8_t>(ink.size(), 0), {}, boxes[main].side()};
  std::vector<bool> keep(area.size());
  for (size_t c = 0; c < area.size(); ++c) {
    keep[c] =
        area[c] >= 0.05 * area[main] && boxes[c].gap(boxes[main]) <= 0.3 * digit.size && boxes[c].side() <= digit.size;
  }
  for (size_t i = 0; i < ink.size(); ++i) {
    if (label[i] >= 0 && keep[label[i]])
      digit.mask[i] = 1, digit.box.add(static_cast<int>(i % width), static_cast<int>(i / width));
  }
  return digit;
}

// Twice the area over the number of boundary pixels: a stroke's width.
float stroke_width(const Digit& digit, int width, int height) {
  long area = 0, boundary = 0;
  auto at = [&](int x, int y) {
    return x >= 0 && y >= 0 && x < width && y < height && digit.mask[static_cast<size_t>(y) * width + x];
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      if (!at(x, y)) continue;
      ++area;
      if (!at(x - 1, y) || !at(x + 1, y) || !at(x, y - 1) || !at(x, y + 1)) ++boundary;
    }
  }
  return 2.0f * area / std::max(1L, boundary);
}

Error no_contrast(const std::string& what, float level) {
  return Error(
      fmt::format("{}: no digit found: the image has almost no contrast (the ink is {:.0f} grey levels from "
                  "the paper, {} are needed); try a photo in better light, with darker ink, or cropped "
                  "closer to the digit",
                  what, level, kMinContrast));
}

// The ink found against a background estimated by a k x k closing.
struct Ink {
  std::vector<float> ratio;  // how much darker than the paper, as a fraction of the paper's level
  float threshold = 0;
  Digit digit;
};

// A ratio, not a difference: in a shadow the paper and the ink darken by the
// same factor, so the ink keeps its ratio. A closing, not a blur: it follows
// the edge of a shadow.
Ink find_ink(const GrayImage& img, const GrayImage& smooth, int k, const std::string& what) {
  const GrayImage paper = closing(smooth, k);
  Ink ink;
  ink.ratio.resize(img.pixels.size());
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    ink.ratio[i] = std::clamp((paper.pixels[i] - img.pixels[i]) / std::max(paper.pixels[i], 16.0f), 0.0f, 1.0f);
  }
  const std::optional<float> threshold = ink_threshold(ink.ratio);
  if (!threshold) {
    float most = 0;
    for (size_t i = 0; i < img.pixels.size(); ++i) most = std::max(most, paper.pixels[i] - img.pixels[i]);
    if (most < kMinContrast) throw no_contrast(what, most);
    throw Error(
        fmt::format("{}: no digit found: only a few pixels stand out from the paper; try a photo in which "
                    "the digit is larger",
                    what));
  }
  ink.threshold = *threshold;
  std::vector<uint8_t> mask(ink.ratio.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = ink.ratio[i] >= ink.threshold;
  ink.digit = select_digit(mask, img.width, img.height);
  std::vector<float> contrast;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (ink.digit.mask[i]) contrast.push_back(paper.pixels[i] - img.pixels[i]);
  }
  const float level = quantile(contrast, 0.9);
  if (level < kMinContrast) throw no_contrast(what, level);
  return ink;
}

// The ink's levels in the digit's box, as MNIST's: 0 for paper, 1 for the
// ink's own level (the 90th percentile of the digit's ratio) and a ramp
// between half the threshold and that. Pixels away from the digit's
// components (specks, lines) are 0.
GrayImage digit_levels(const Ink& ink, int width, int height) {
  const Digit& d = ink.digit;
  GrayImage near{width, height, std::vector<float>(d.mask.begin(), d.mask.end())};
  near = square_filter(near, 2 * std::max(1, d.size / 40) + 1, true);  // keep the strokes' soft edges
  std::vector<float> levels;
  for (size_t i = 0; i < d.mask.size(); ++i)
    if (d.mask[i]) levels.push_back(ink.ratio[i]);
  const float lo = 0.5f * ink.threshold, hi = std::max(quantile(levels, 0.9), lo + 1e-3f);
  GrayImage out{d.box.right - d.box.left + 1, d.box.bottom - d.box.top + 1, {}};
  out.pixels.reserve(static_cast<size_t>(out.width) * out.height);
  for (int y = d.box.top; y <= d.box.bottom; ++y) {
    for (int x = d.box.left; x <= d.box.right; ++x) {
      const size_t i = static_cast<size_t>(y) * width + x;
      out.pixels.push_back(near.pixels[i] > 0 ? std::clamp((ink.ratio[i] - lo) / (hi - lo), 0.0f, 1.0f) : 0.0f);
    }
  }
  return out;
}

// Fits the crop into box x box keeping its aspect ratio, and places it in a
// size x size field with its centre of mass at the centre, as MNIST was made.
std::vector<float> fit_and_centre(const GrayImage& crop, int size, int box, const std::string& what) {
  const float fit = static_cast<float>(box) / static_cast<float>(std::max(crop.width, crop.height));
  const int bw = std::max(1, static_cast<int>(std::lround(crop.width * fit)));
  const int bh = std::max(1, static_cast<int>(std::lround(crop.height * fit)));
  std::vector<float> fitted(static_cast<size_t>(bw) * bh);
  if (!stbir_resize_float(crop.pixels.data(), crop.width, crop.height, 0, fitted.data(), bw, bh, 0, 1)) {
    throw Error(what + ": cannot resize the image");
  }
  double mass = 0, my = 0, mx = 0;
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      float& v = fitted[static_cast<size_t>(y) * bw + x];
      v = 255.0f * std::clamp(v, 0.0f, 1.0f);  // the resampling filter may overshoot
      mass += v, my += v * y, mx += v * x;
    }
  }
  const double centre = (size - 1) / 2.0;
  const int oy = mass > 0 ? static_cast<int>(std::lround(centre - my / mass)) : (size - bh) / 2;
  const int ox = mass > 0 ? static_cast<int>(std::lround(centre - mx / mass)) : (size - bw) / 2;
  std::vector<float> out(static_cast<size_t>(size) * size, 0.0f);
  for (int y = 0; y < bh; ++y) {
    for (int x = 0; x < bw; ++x) {
      const int ty = y + oy, tx = x + ox;
      if (ty >= 0 && ty < size && tx >= 0 && tx < size)
        out[static_cast<size_t>(ty) * size + tx] = fitted[static_cast<size_t>(y) * bw + x];
    }
  }
  return out;
}

}  // namespace

namespace {

// stb_image's reason for a failure, made fit for a one-line message: some
// corrupt files leave it empty or holding a line break.
std::string decoder_reason() {
  const char* reason = stbi_failure_reason();
  std::string out;
  for (const char* c = reason; c != nullptr && *c != '\0' && out.size() < 80; ++c) {
    if (*c >= 0x20 && *c < 0x7f) out += *c;
  }
  const bool blank = out.find_first_not_of(' ') == std::string::npos;
  return blank ? "corrupt data" : out;
}

}  // namespace

GrayImage decode_image(std::string_view bytes, const std::string& what) {
  if (bytes.empty()) throw Error(what + ": file is empty");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int len = static_cast<int>(std::min<size_t>(bytes.size(), 0x7fffffff));
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &channels)) {
    throw Error(fmt::format("{}: not a readable PNG, JPEG or BMP image ({})", what, decoder_reason()));
  }
  if (w <= 0 || h <= 0) throw Error(fmt::format("{}: image has zero size", what));
  if (w > kMaxSide || h > kMaxSide || static_cast<long>(w) * h > kMaxPixels) {
    throw Error(
        fmt::format("{}: image is {}x{}, larger than this program accepts ({} pixels a side, "
                    "{} megapixels)",
                    what, w, h, kMaxSide, kMaxPixels >> 20));
  }
  // Grey + alpha, so a digit drawn on a transparent background is not lost.
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &channels, 2), stbi_image_free);
  if (!px) throw Error(fmt::format("{}: cannot decode image ({})", what, decoder_reason()));
  const size_t n = static_cast<size_t>(w) * h;
  // A transparent background is put behind the ink in the shade it stands
  // out from: white behind dark ink, black behind light ink (judged from the
  // mean grey of what is opaque). White behind white strokes would lose them.
  double ink = 0, opacity = 0;
  for (size_t i = 0; i < n; ++i)
    ink += px.get()[2 * i] * (px.get()[2 * i + 1] / 255.0), opacity += px.get()[2 * i + 1] / 255.0;
  const float backdrop = opacity > 0 && ink / opacity >= 127.5 ? 0.0f : 255.0f;
  GrayImage img{w, h, std::vector<float>(n)};
  for (size_t i = 0; i < n; ++i) {
    const float grey = px.get()[2 * i], alpha = px.get()[2 * i + 1] / 255.0f;
    img.pixels[i] = grey * alpha + backdrop * (1.0f - alpha);
  }
  return oriented(img, exif_orientation(bytes));
}

GrayImage read_image(const std::string& path) { return decode_image(read_file(path), path); }

std::vector<float> preprocess_digit(const GrayImage& image, const std::string& what, int size, int box) {
  if (is_mnist_form(image, size)) {
    std::vector<float> out = image.pixels;
    for (float& v : out) v = std::clamp(v, 0.0f, 255.0f);
    return out;
  }
  // Big photos are shrunk first (block means): a digit needs far fewer
  // pixels than a camera gives, and every step below is linear in them.
  GrayImage img = denoised(thumbnail(image, kWorkSide));
  if (!has_dark_ink(img)) {
    for (float& v : img.pixels) v = 255.0f - v;
  }
  // The paper's level is estimated from a lightly blurred copy, so that
  // noise does not lift it.
  const GrayImage smooth = box_blur(img, 2);
  // First a closing wider than any stroke could be; then, knowing the
  // digit, one just wide enough for its strokes: it follows shadows more
  // closely.
  const int k = std::max(3, (std::min(img.width, img.height) / 2) | 1);
  Ink ink = find_ink(img, smooth, k, what);
  const float width = stroke_width(ink.digit, img.width, img.height);
  const int k2 = std::max(5, static_cast<int>(std::max(3 * width, 0.4f * ink.digit.size)) | 1);
  if (k2 < k) ink = find_ink(img, smooth, k2, what);
  return fit_and_centre(digit_levels(ink, img.width, img.height), size, box, what);
}

}  // namespace mnist
