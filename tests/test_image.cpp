// predict's preprocessing on synthetic images.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <cmath>
#include <cstring>

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
Box ink_box(const std::vector<float>& px, int size) {
  Box b;
  double mass = 0;
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) {
      const float v = px[static_cast<size_t>(y) * size + x];
      if (v > 0) b.top = std::min(b.top, y), b.bottom = std::max(b.bottom, y), b.left = std::min(b.left, x), b.right = std::max(b.right, x);
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
  }
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
}

}  // namespace
}  // namespace mnist
