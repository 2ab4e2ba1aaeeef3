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
// grey. A JPEG's EXIF orientation is applied, so that a phone photo stored
// sideways comes out upright, as viewers show it. Transparency is composited
// over white behind dark ink and over black behind light ink (judged from
// the mean grey of what is opaque), so a drawing on a transparent layer
// keeps its strokes either way. Refuses empty or absurdly large images with
// Error("WHAT: reason").
GrayImage decode_image(std::string_view bytes, const std::string& what);
GrayImage read_image(const std::string& path);

// Preprocesses as MNIST was made (LeCun et al.): the digit found on its
// paper, made bright on black, cropped to its strokes, scaled to fit a
// box x box square keeping the aspect ratio, and placed in a size x size
// field with its centre of mass at the centre. Photos are handled: uneven
// light and shadows (a local background), noise and specks (left out of the
// crop), faint or coloured ink, light ink on a dark background. An image
// already in that form (size x size, white on black, centred) is returned as
// it is. docs/formats.md gives the steps. Returns size*size values in
// 0..255; Error("WHAT: no digit found: ...", with a hint) when the image has
// almost no contrast.
std::vector<float> preprocess_digit(const GrayImage& image, const std::string& what, int size = 28, int box = 20);

}  // namespace mnist
