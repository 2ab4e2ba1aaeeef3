// predict's preprocessing on synthetic images.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "helpers.h"
#include "io/file.h"
#include "io/image.h"
#include "util/error.h"

namespace mnist {
namespace {

// A w x h canvas with a filled rectangle of ink.
GrayImage canvas(int w, int h, float paper, float ink, int x0, int y0, int x1, int y1) {
  GrayImage img{w, h, std::vector<float>(static_cast<size_t>(w) * h, paper)};
  for (int y = y0; y < y1; ++y) for (int x = x0; x < x1; ++x) img.pixels[static_cast<size_t>(y) * w + x] = ink;
  return img;
}

struct Box {
  int top = 1 << 30, bottom = -1, left = 1 << 30, right = -1;
  double com_y = 0, com_x = 0;
};
// The box of the pixels brighter than `level`, and the centre of mass.
Box ink_box(const std::vector<float>& px, int size, float level = 0) {
  Box b;
  double mass = 0;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const float v = px[static_cast<size_t>(y) * size + x];
      if (v > level) b.top = std::min(b.top, y), b.bottom = std::max(b.bottom, y), b.left = std::min(b.left, x), b.right = std::max(b.right, x);
      mass += v, b.com_y += v * y, b.com_x += v * x;
    }
  }
  b.com_y /= mass, b.com_x /= mass;
  return b;
}

TEST(Preprocess, FitsTheInkIntoTwentyPixelsKeepingTheAspectRatio) {
  // A tall stroke (100 x 300) in a corner of a large light page.
  const auto out = preprocess_digit(canvas(800, 600, 230, 20, 50, 40, 150, 340), "x");
  ASSERT_EQ(out.size(), 784u);
  const Box b = ink_box(out, 28);
  EXPECT_EQ(b.bottom - b.top + 1, 20);
  EXPECT_NEAR(b.right - b.left + 1, 7, 1);  // 100/300 of 20
  EXPECT_NEAR(b.com_y, 13.5, 0.5);
  EXPECT_NEAR(b.com_x, 13.5, 0.5);
  EXPECT_NEAR(*std::max_element(out.begin(), out.end()), 255.0f, 1.0f) << "ink is bright";
  EXPECT_EQ(out[0], 0.0f) << "background is dark";
}

TEST(Preprocess, DarkOnLightAndLightOnDarkGiveTheSameInput) {
  const auto a = preprocess_digit(canvas(60, 60, 255, 0, 10, 20, 30, 45), "a");
  const auto b = preprocess_digit(canvas(60, 60, 0, 255, 10, 20, 30, 45), "b");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-3f) << i;
}

TEST(Preprocess, CentresByMassNotByBox) {
  // An L shape: more ink on the left column, so the box is shifted right.
  GrayImage img = canvas(40, 40, 255, 0, 5, 5, 10, 35);
  for (int y = 30; y < 35; ++y) for (int x = 10; x < 35; ++x) img.pixels[y * 40 + x] = 0;
  const Box b = ink_box(preprocess_digit(img, "L"), 28);
  EXPECT_NEAR(b.com_x, 13.5, 0.5);
  EXPECT_NEAR(b.com_y, 13.5, 0.5);
}

TEST(Preprocess, OtherFieldSizes) {
  const auto out = preprocess_digit(canvas(50, 50, 255, 0, 10, 10, 40, 40), "x", 16, 11);
  ASSERT_EQ(out.size(), 256u);
  const Box b = ink_box(out, 16);
  EXPECT_EQ(b.bottom - b.top + 1, 11);
}

TEST(Preprocess, RefusesABlankImage) {
  EXPECT_THROW(preprocess_digit(canvas(30, 30, 200, 200, 0, 0, 0, 0), "blank.png"), Error);
  try {
    preprocess_digit(canvas(30, 30, 200, 210, 5, 5, 10, 10), "faint.png");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("faint.png: no digit found"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("contrast"), std::string::npos) << "says why";
    EXPECT_NE(std::string(e.what()).find("try "), std::string::npos) << "gives a hint";
  }
}

std::string encode(const char* format, int w, int h, int comp, const std::vector<unsigned char>& px);

// A digit-like "7" of 14-pixel strokes, drawn with `ink(x, y)` on `paper(x, y)`.
template <class Paper, class Ink>
GrayImage seven(int w, int h, Paper paper, Ink ink) {
  GrayImage img{w, h, std::vector<float>(static_cast<size_t>(w) * h)};
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool bar = y >= h / 4 && y < h / 4 + 14 && x >= w / 3 && x < 2 * w / 3;
      const int stem_x = 2 * w / 3 - 14 - (y - h / 4) * (w / 6) / (h / 2);  // leaning left as it goes down
      const bool stem = y >= h / 4 && y < 3 * h / 4 && x >= stem_x && x < stem_x + 14;
      img.pixels[static_cast<size_t>(y) * w + x] = bar || stem ? ink(x, y) : paper(x, y);
    }
  }
  return img;
}

GrayImage flat_seven() {
  return seven(200, 200, [](int, int) { return 235.0f; }, [](int, int) { return 30.0f; });
}

// How far two preprocessed inputs differ: the largest difference of a pixel.
float largest_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

TEST(Preprocess, SpecksDoNotWidenTheCrop) {
  const auto clean = preprocess_digit(flat_seven(), "clean");
  GrayImage specked = flat_seven();
  for (const auto& [x, y] : {std::pair{3, 3}, {196, 10}, {8, 190}, {190, 192}, {100, 5}, {5, 100}}) {
    for (int dy = 0; dy < 2; ++dy) for (int dx = 0; dx < 2; ++dx) specked.pixels[(y + dy) * 200 + x + dx] = 0;
  }
  const auto out = preprocess_digit(specked, "specked");
  const Box a = ink_box(clean, 28), b = ink_box(out, 28);
  EXPECT_EQ(b.bottom - b.top, a.bottom - a.top);
  EXPECT_EQ(b.right - b.left, a.right - a.left);
  EXPECT_LT(largest_difference(clean, out), 16.0f);
}

TEST(Preprocess, NoiseDoesNotShrinkTheDigit) {
  std::mt19937 rng(15);
  std::normal_distribution<float> noise(0.0f, 40.0f);
  GrayImage noisy = flat_seven();
  for (float& v : noisy.pixels) v = std::clamp(v + noise(rng), 0.0f, 255.0f);
  const auto clean = preprocess_digit(flat_seven(), "clean"), out = preprocess_digit(noisy, "noisy");
  const Box a = ink_box(clean, 28, 127), b = ink_box(out, 28, 127);
  EXPECT_EQ(b.bottom - b.top, a.bottom - a.top) << "single noisy pixels must not count as ink when cropping";
  EXPECT_NEAR(b.right - b.left, a.right - a.left, 1);
  EXPECT_EQ(ink_box(out, 28, 32).top, ink_box(clean, 28, 32).top) << "and the paper stays black";
  EXPECT_NEAR(b.com_y, 13.5, 1.0);
  EXPECT_NEAR(b.com_x, 13.5, 1.0);
}

TEST(Preprocess, UnevenLightAndShadowsLeaveNoGreyBlocks) {
  const auto flat = preprocess_digit(flat_seven(), "flat");
  // Light falling from 1 to 0.35 across the page; a hard shadow (half the
  // light) over the lower left half. The ink darkens with the paper.
  auto light = [](int x, int y) { return (1.0f - 0.65f * x / 199.0f) * (x + y < 200 ? 1.0f : 0.5f); };
  const GrayImage lit = seven(200, 200, [&](int x, int y) { return 235.0f * light(x, y); },
                              [&](int x, int y) { return 30.0f * light(x, y); });
  const auto out = preprocess_digit(lit, "lit");
  const Box a = ink_box(flat, 28), b = ink_box(out, 28);
  EXPECT_EQ(b.top, a.top);
  EXPECT_EQ(b.bottom, a.bottom);
  EXPECT_NEAR(b.left, a.left, 1);
  EXPECT_NEAR(b.right, a.right, 1);
  EXPECT_LT(largest_difference(flat, out), 64.0f);
}

TEST(Preprocess, FaintInkOnGreyPaperIsStillRead) {
  const GrayImage faint = seven(200, 200, [](int, int) { return 180.0f; }, [](int, int) { return 155.0f; });
  const auto out = preprocess_digit(faint, "faint");
  EXPECT_LT(largest_difference(preprocess_digit(flat_seven(), "flat"), out), 16.0f);
}

TEST(Preprocess, AnImageAlreadyInMnistFormIsUsedAsItIs) {
  // White on black, 28x28, a stroke centred by mass, soft edges.
  GrayImage mnist{28, 28, std::vector<float>(28 * 28, 0.0f)};
  for (int y = 6; y < 22; ++y) {
    for (int x = 12; x < 16; ++x) mnist.pixels[y * 28 + x] = (x == 12 || x == 15) ? 128.0f : 255.0f;
  }
  EXPECT_EQ(preprocess_digit(mnist, "mnist"), mnist.pixels);
  // Through a PNG file, as predict reads it.
  std::vector<unsigned char> grey(mnist.pixels.begin(), mnist.pixels.end());
  EXPECT_EQ(preprocess_digit(decode_image(encode("png", 28, 28, 1, grey), "m.png"), "m.png"), mnist.pixels);
  // Dark on light is not MNIST's form: it is prepared (and the stroke, 16
  // pixels tall here, is fitted to 20).
  GrayImage inverted = mnist;
  for (float& v : inverted.pixels) v = 255.0f - v;
  const Box b = ink_box(preprocess_digit(inverted, "inverted"), 28);
  EXPECT_EQ(b.bottom - b.top + 1, 20);
}

std::string encode(const char* format, int w, int h, int comp, const std::vector<unsigned char>& px) {
  std::string out;
  auto sink = [](void* ctx, void* data, int size) { static_cast<std::string*>(ctx)->append(static_cast<char*>(data), size); };
  if (std::string(format) == "png") stbi_write_png_to_func(sink, &out, w, h, comp, px.data(), w * comp);
  if (std::string(format) == "bmp") stbi_write_bmp_to_func(sink, &out, w, h, comp, px.data());
  if (std::string(format) == "jpg") stbi_write_jpg_to_func(sink, &out, w, h, comp, px.data(), 95);
  return out;
}

TEST(Decode, ReadsPngJpegAndBmpInColour) {
  std::vector<unsigned char> rgb(32 * 24 * 3, 255);
  for (int y = 4; y < 20; ++y) for (int x = 10; x < 14; ++x) for (int c = 0; c < 3; ++c) rgb[(y * 32 + x) * 3 + c] = 0;
  for (const char* f : {"png", "jpg", "bmp"}) {
    const GrayImage img = decode_image(encode(f, 32, 24, 3, rgb), f);
    EXPECT_EQ(img.width, 32) << f;
    EXPECT_EQ(img.height, 24) << f;
    EXPECT_NEAR(img.pixels[0], 255, 3) << f;
    EXPECT_NEAR(img.pixels[10 * 32 + 11], 0, 8) << f;
  }
}

TEST(Decode, CompositesTransparencyOverWhite) {
  // Black everywhere, ink only in alpha: a drawing on a transparent layer.
  std::vector<unsigned char> ga(16 * 16 * 2, 0);
  for (int i = 0; i < 16; ++i) ga[(i * 16 + 8) * 2 + 1] = 255;
  const GrayImage img = decode_image(encode("png", 16, 16, 2, ga), "t.png");
  EXPECT_EQ(img.pixels[0], 255.0f);
  EXPECT_EQ(img.pixels[8], 0.0f);
}

TEST(Decode, CompositesTransparencyBehindLightInkOverBlack) {
  // Ink only in alpha, in white: over white it would vanish.
  for (const unsigned char hidden : {0, 255}) {  // the colour programs leave in transparent pixels
    std::vector<unsigned char> ga(16 * 16 * 2, hidden);
    for (int i = 0; i < 16 * 16; ++i) ga[i * 2 + 1] = 0;
    for (int i = 0; i < 16; ++i) ga[(i * 16 + 8) * 2] = 255, ga[(i * 16 + 8) * 2 + 1] = 255;
    const GrayImage img = decode_image(encode("png", 16, 16, 2, ga), "light.png");
    EXPECT_EQ(img.pixels[0], 0.0f) << int(hidden);
    EXPECT_EQ(img.pixels[8], 255.0f) << int(hidden);
  }
}

TEST(Preprocess, TransparentDrawingsGiveTheSameInputWhateverTheInkColour) {
  // The "7" as alpha; RGB dark ink or light ink; transparent pixels black or white.
  const GrayImage shape = flat_seven();
  std::vector<std::vector<float>> inputs;
  for (const unsigned char ink : {20, 240}) {
    for (const unsigned char hidden : {0, 255}) {
      std::vector<unsigned char> rgba(200 * 200 * 4);
      for (size_t i = 0; i < shape.pixels.size(); ++i) {
        const bool on = shape.pixels[i] < 128;
        for (int c = 0; c < 3; ++c) rgba[i * 4 + c] = on ? ink : hidden;
        rgba[i * 4 + 3] = on ? 255 : 0;
      }
      inputs.push_back(preprocess_digit(decode_image(encode("png", 200, 200, 4, rgba), "t.png"), "t.png"));
    }
  }
  for (size_t i = 1; i < inputs.size(); ++i) EXPECT_LT(largest_difference(inputs[0], inputs[i]), 1.0f) << i;
  EXPECT_NEAR(*std::max_element(inputs[0].begin(), inputs[0].end()), 255.0f, 1.0f);
}

// A JPEG with an EXIF APP1 segment (IFD0: a Make string, then Orientation)
// right after SOI, as phones write them; either byte order.
std::string with_exif(const std::string& jpeg, int orientation, bool big_endian) {
  std::string tiff;
  auto put = [&](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) tiff += static_cast<char>(big_endian ? v >> (8 * (bytes - 1 - i)) : v >> (8 * i));
  };
  tiff += big_endian ? "MM" : "II";
  put(42, 2), put(8, 4);                          // magic, IFD0 at offset 8
  put(2, 2);                                      // two entries
  put(0x010F, 2), put(2, 2), put(6, 4), put(38, 4);  // Make: ASCII, 6 bytes at offset 38
  put(0x0112, 2), put(3, 2), put(1, 4), put(orientation, 2), put(0, 2);
  put(0, 4);                                      // no next IFD
  tiff += std::string("Phone", 6);
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const size_t length = payload.size() + 2;
  const std::string app1 = std::string("\xFF\xE1") + static_cast<char>(length >> 8) + static_cast<char>(length & 0xFF) + payload;
  return jpeg.substr(0, 2) + app1 + jpeg.substr(2);
}

TEST(Decode, AppliesTheExifOrientation) {
  // 32x16, white, with a black 8x8 block in the stored top-left corner.
  std::vector<unsigned char> rgb(32 * 16 * 3, 255);
  for (int y = 0; y < 8; ++y) for (int x = 0; x < 8; ++x) for (int c = 0; c < 3; ++c) rgb[(y * 32 + x) * 3 + c] = 0;
  const std::string jpeg = encode("jpg", 32, 16, 3, rgb);
  struct Case {
    int orientation, width, height, block_x, block_y;  // where the block's centre is shown
  };
  for (const Case c : {Case{1, 32, 16, 4, 4}, Case{3, 32, 16, 28, 12}, Case{6, 16, 32, 12, 4}, Case{8, 16, 32, 4, 28}}) {
    for (const bool big_endian : {false, true}) {
      const GrayImage img = decode_image(with_exif(jpeg, c.orientation, big_endian), "phone.jpg");
      ASSERT_EQ(img.width, c.width) << c.orientation;
      ASSERT_EQ(img.height, c.height) << c.orientation;
      EXPECT_LT(img.pixels[c.block_y * img.width + c.block_x], 40.0f) << c.orientation;
      EXPECT_GT(img.pixels[(img.height - 1 - c.block_y) * img.width + (img.width - 1 - c.block_x)], 215.0f)
          << c.orientation << ": the opposite corner is white";
    }
  }
  // A broken EXIF block (an IFD beyond its end) is ignored, not fatal.
  std::string broken = with_exif(jpeg, 6, false);
  broken[4 + 2 + 6 + 4] = 'x';  // IFD0's offset, now far past the segment
  const GrayImage img = decode_image(broken, "broken.jpg");
  EXPECT_EQ(img.width, 32);
}

TEST(Decode, RefusesEmptyCorruptAndAbsurdImages) {
  EXPECT_THROW(decode_image("", "e.png"), Error);
  EXPECT_THROW(decode_image("not an image at all", "n.png"), Error);
  std::vector<unsigned char> px(4 * 4, 0);
  std::string png = encode("png", 4, 4, 1, px);
  EXPECT_THROW(decode_image(png.substr(0, png.size() / 2), "half.png"), Error);
  // A PNG header claiming 100000 x 100000 pixels.
  std::string huge = png;
  const unsigned char dims[8] = {0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0};
  std::memcpy(huge.data() + 16, dims, 8);
  try {
    decode_image(huge, "huge.png");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.png"), std::string::npos) << e.what();
  }
  // A PNG whose image data ends early (found by the web API's fuzz test):
  // stb_image leaves its reason empty or with a line break; the message is
  // still one line that says why.
  const std::string cut_hex = "89504e470d0a1a0a0000000d49484452000000400000004008000000008f022e020000004149444154789cedd7310d002014c4d0afa4fe3532e1804bb88184b402dede5965f33f00540024e10c4014040404040404040404040404046e81fadafa6fccbd073691ad543f753c6000000000";
  std::string cut;
  for (size_t i = 0; i < cut_hex.size(); i += 2) cut += static_cast<char>(std::stoi(cut_hex.substr(i, 2), nullptr, 16));
  try {
    decode_image(cut, "cut.png");
    ADD_FAILURE();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.find("()"), std::string::npos) << message;
    EXPECT_EQ(message.rfind("cut.png: ", 0), 0u) << message;
  }
}

}  // namespace
}  // namespace mnist
