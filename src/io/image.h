#pragma once
// Turning a photo or drawing of one digit into an MNIST-like input.
#include <string>
#include <string_view>
#include <vector>

namespace mnist {

// Grey levels 0..255, row-major.
struct GrayImage {
  int width = 0, height = 0;
  std::vector<float> pixels;
};

// Decodes PNG, JPEG or BMP (anything stb_image reads). Colour is converted to
// grey and transparency is composited over white. Refuses empty or absurdly
// large images with Error("WHAT: reason").
GrayImage decode_image(std::string_view bytes, const std::string& what);
GrayImage read_image(const std::string& path);

// Preprocesses as MNIST was made (LeCun et al.): ink made bright on a dark
// background (inverting when the background is light, judged from the
// border), contrast stretched, cropped to the ink, scaled to fit a box x box
// square keeping the aspect ratio, and placed in a size x size field so that
// its centre of mass is at the centre. Returns size*size values in 0..255.
std::vector<float> preprocess_digit(const GrayImage& image, const std::string& what, int size = 28,
                                    int box = 20);

}  // namespace mnist
