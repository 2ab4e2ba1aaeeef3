#pragma once
// Line charts drawn with PLplot's cairo drivers: a figure of one or more
// panels, each with lines, error bars, markers, vertical marks and a legend,
// saved as PNG and SVG. Plotting only lays out what the caller computed;
// experiments/ decide what to draw.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mnist::plot {

// Colours for series: distinct on white and for the common colour-vision
// deficiencies (Okabe and Ito's palette).
constexpr int kColors = 8;

// Line styles: with the colours, they tell up to 24 series apart.
constexpr int kStyles = 3;  // solid, dashed, dotted
// Shades of a colour, from full to lighter (the seeds of one configuration).
constexpr int kShades = 4;

struct Series {
  std::string label;  // empty: not in the legend
  std::vector<double> x, y;
  std::vector<double> y_err;  // if not empty: error bars of +-y_err
  int color = 0;              // 0 .. kColors-1
  int style = 0;              // 0 .. kStyles-1
  int shade = 0;              // 0 .. kShades-1
  bool faint = false;         // a thin, light line behind the others
  bool markers = false;       // a marker at each point
  bool no_line = false;       // markers only
  std::string marker = "•";   // the glyph of the markers (any text the font has: "★", "▲", "■")
  double marker_scale = 1.0;
};

// Filled contours of z over a grid, drawn under the series.
struct Contour {
  std::vector<double> x, y;            // increasing grid coordinates
  std::vector<std::vector<double>> z;  // z[j][i] at (x[i], y[j])
  std::vector<double> levels;          // increasing
};

struct Mark {  // a dashed vertical line across the panel at x, named in the legend (unless the label is empty)
  double x;
  std::string label;
  int color = 0;
};

struct Panel {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  std::vector<Series> series;
  std::vector<Mark> marks;
  std::optional<std::pair<double, double>> x_range, y_range;  // default: fits the data
  std::optional<Contour> contour;
  enum class Corner { TopRight, BottomRight, BottomLeft, TopLeft, Outside };  // Outside: right of the panel
  Corner legend = Corner::TopRight;
};

struct Figure {
  std::string title;
  int width = 1200, height = 800;  // pixels in the PNG, points in the SVG
  int columns = 1;
  std::vector<Panel> panels;
  // A legend for the whole figure, under the title (label, colour, faint,
  // markers of each entry), for panels that share their series' meaning.
  std::vector<Series> legend;
};

// A contact sheet: small grey images in a grid, each with a caption under
// it (eval --mistakes: each misclassified digit, "7 → 2").
struct GalleryCell {
  int width = 0, height = 0;
  std::vector<float> pixels;  // 0 (black) .. 255 (white), row by row
  std::string caption;
};
struct Gallery {
  std::string title;
  int columns = 20;
  int cell_pixels = 64;  // each image's side in the PNG
  std::vector<GalleryCell> cells;
};

// Error unless PLplot's cairo drivers (pngcairo, svgcairo) are installed:
// commands that plot call it before any long work.
void require_drivers();

// Draws the figure into stem.png and stem.svg, each written atomically.
// Throws Error naming the file that could not be written.
void save(const Figure& figure, const std::string& stem);
// The gallery as stem.png (only: thousands of images make a slow SVG).
void save(const Gallery& gallery, const std::string& stem);

}  // namespace mnist::plot
