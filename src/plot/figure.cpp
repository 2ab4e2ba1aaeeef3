#include "plot/figure.h"

#include <fmt/format.h>
#include <plplot.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/file.h"
#include "util/error.h"

namespace mnist::plot {

namespace {

struct Rgb {
  int r, g, b;
};
// Okabe-Ito, reordered so that the first colours are the most distinct.
// Black comes fifth so that no two of the first six share a hue family.
constexpr Rgb kPalette[kColors] = {{0, 114, 178}, {213, 94, 0},   {0, 158, 115}, {204, 121, 167},
                                   {0, 0, 0},     {86, 180, 233}, {230, 159, 0}, {240, 228, 66}};
// Colour map 0 layout.
constexpr double kTextPixels = 12, kTitlePixels = 16;  // text heights
// Each colour in kShades shades (full first), then each faint.
constexpr int kBackground = 0, kInk = 1, kGrid = 2, kContour = 3, kFirstColor = 4,
              kFirstFaint = kFirstColor + kColors * kShades;
constexpr int kPens = kFirstFaint + kColors;
// PLplot's line styles for our styles: continuous, long dashes, short dashes.
constexpr PLINT kLineStyles[kStyles] = {1, 3, 2};

Rgb mixed(Rgb c, double share) {  // share of the colour over white
  auto mix = [share](int v) { return static_cast<int>(std::lround(255 - share * (255 - v))); };
  return {mix(c.r), mix(c.g), mix(c.b)};
}

// The colour-map entry of a series' colour, shade and faintness.
PLINT pen(int color, int shade, bool faint) {
  const int c = ((color % kColors) + kColors) % kColors;
  return faint ? kFirstFaint + c : kFirstColor + c * kShades + std::clamp(shade, 0, kShades - 1);
}
PLINT pen(const Series& s) { return pen(s.color, s.shade, s.faint); }
PLINT line_style(const Series& s) { return kLineStyles[((s.style % kStyles) + kStyles) % kStyles]; }

// Text as PLplot prints it: '#' starts its escape sequences, "##" is '#'.
std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '#' ? std::string("##") : std::string(1, c);
  return out;
}

double axis_value(double v, bool log) { return log ? std::log10(v) : v; }

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  Range padded(double share) const {
    Range r = *this;
    if (!std::isfinite(lo)) return {0, 1};
    const double span = hi > lo ? hi - lo : std::max(1.0, std::abs(lo));
    r.lo -= share * span;
    r.hi += share * span;
    return r;
  }
};

// The points of a series that can be drawn on the panel's axes.
void drawable(const Series& s, const Panel& p, std::vector<double>& x, std::vector<double>& y,
              std::vector<double>* lo = nullptr, std::vector<double>* hi = nullptr) {
  x.clear(), y.clear();
  if (lo) lo->clear(), hi->clear();
  for (size_t i = 0; i < s.x.size(); ++i) {
    const double xv = s.x[i], yv = s.y[i];
    if (!std::isfinite(xv) || !std::isfinite(yv) || (p.log_x && xv <= 0) || (p.log_y && yv <= 0)) continue;
    x.push_back(axis_value(xv, p.log_x));
    y.push_back(axis_value(yv, p.log_y));
    if (lo) {
      const double e = s.y_err.empty() ? 0 : s.y_err[i];
      lo->push_back(axis_value(p.log_y ? std::max(yv - e, yv / 10) : yv - e, p.log_y));
      hi->push_back(axis_value(yv + e, p.log_y));
    }
  }
}

// Grid lines and labels of a log axis (range in log10 units) at "nice"
// values; other is the range of the other axis.
// Returns the longest label's length in characters.
size_t log_axis_labels(bool x_axis, Range range, Range other) {
  size_t longest = 0;
  const double span = range.hi - range.lo;
  const std::vector<double> mantissas = span > 4 ? std::vector<double>{1} : std::vector<double>{1, 2, 5};
  for (int k = static_cast<int>(std::floor(range.lo)); k <= static_cast<int>(std::ceil(range.hi)); ++k) {
    for (double m : mantissas) {
      const double v = std::log10(m) + k;
      if (v < range.lo || v > range.hi) continue;
      const double frac = (v - range.lo) / span;
      const double xs[2] = {v, v}, ys[2] = {other.lo, other.hi};
      plcol0(kGrid);
      plwidth(0.5);
      if (x_axis) {
        plline(2, xs, ys);
      } else {
        plline(2, ys, xs);
      }
      plcol0(kInk);
      const std::string text = fmt::format("{:g}", m * std::pow(10.0, k));
      longest = std::max(longest, text.size());
      if (x_axis) {
        plmtex("b", 1.6, frac, 0.5, text.c_str());
      } else {
        plmtex("lv", 0.6, frac, 1.0, text.c_str());
      }
    }
  }
  return longest;
}

PLINT legend_position(Panel::Corner corner) {
  using C = Panel::Corner;
  if (corner == C::Outside) return PL_POSITION_RIGHT | PL_POSITION_TOP | PL_POSITION_OUTSIDE;
  const PLINT vertical = corner == C::TopRight || corner == C::TopLeft ? PL_POSITION_TOP : PL_POSITION_BOTTOM;
  const PLINT horizontal = corner == C::TopRight || corner == C::BottomRight ? PL_POSITION_RIGHT : PL_POSITION_LEFT;
  return vertical | horizontal | PL_POSITION_INSIDE;
}

// A legend of the labelled series (solid lines, with a marker if theirs
// have one) and the marks (dashed), in rows of up to `columns` entries at
// position in the current
// viewport. Boxed when it sits inside a panel.
void draw_legend(const std::vector<Series>& series, const std::vector<Mark>& marks, PLINT position, int columns,
                 double text_scale) {
  std::vector<PLINT> opts, text_colors, line_colors, line_styles, symbol_colors, symbol_numbers;
  std::vector<PLFLT> line_widths, symbol_scales;
  std::vector<const char*> texts, symbols;
  std::vector<std::string> labels, glyphs;  // escaped; reserved so that texts stay valid
  labels.reserve(series.size() + marks.size());
  glyphs.reserve(series.size() + marks.size());
  auto add = [&](const std::string& label, PLINT color, PLINT style, double width, const std::string& marker,
                 bool line, double scale) {
    opts.push_back((line ? PL_LEGEND_LINE : 0) | (marker.empty() ? 0 : PL_LEGEND_SYMBOL));
    labels.push_back(escaped(label));
    texts.push_back(labels.back().c_str());
    glyphs.push_back(marker);
    text_colors.push_back(kInk);
    line_colors.push_back(color);
    line_styles.push_back(style);
    line_widths.push_back(width);
    symbol_colors.push_back(color);
    symbol_scales.push_back(scale);
    symbol_numbers.push_back(1);
    symbols.push_back(glyphs.back().c_str());
  };
  for (const Series& s : series) {
    if (!s.label.empty()) {
      add(s.label, pen(s), line_style(s), s.faint ? 0.8 : 2.0, s.markers || s.no_line ? s.marker : "", !s.no_line,
          s.marker_scale);
    }
  }
  for (const Mark& m : marks) {
    if (!m.label.empty()) add(m.label, pen(m.color, 0, false), 2, 1.5, "", true, 1.0);
  }
  if (texts.empty()) return;
  const auto n = static_cast<PLINT>(texts.size());
  const bool inside = (position & PL_POSITION_INSIDE) != 0 && (position & (PL_POSITION_LEFT | PL_POSITION_RIGHT));
  const bool outside = (position & PL_POSITION_OUTSIDE) != 0;
  PLFLT width = 0, height = 0;
  plwidth(1);
  pllegend(&width, &height,
           (inside || outside ? PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX : 0) | PL_LEGEND_ROW_MAJOR, position,
           inside ? 0.02 : outside ? 0.02 : 0.0, inside ? 0.03 : 0.0, 0.04, kBackground, kInk, 1,
           (n + columns - 1) / columns, std::min<PLINT>(n, columns), n, opts.data(), 1.0, text_scale, 2.0, 0.0,
           text_colors.data(), texts.data(), nullptr, nullptr, nullptr, nullptr, line_colors.data(),
           line_styles.data(), line_widths.data(), symbol_colors.data(), symbol_scales.data(), symbol_numbers.data(),
           symbols.data());
}

// Filled bands between the contour levels, light to darker, with a thin
// line at each level.
void draw_contour(const Contour& c) {
  const auto nx = static_cast<PLINT>(c.x.size()), ny = static_cast<PLINT>(c.y.size());
  if (nx < 2 || ny < 2 || c.levels.size() < 2) return;
  std::vector<PLFLT> cells(static_cast<size_t>(nx) * ny);
  std::vector<PLFLT*> columns(static_cast<size_t>(nx));  // PLplot's z[i][j]: x first
  for (PLINT i = 0; i < nx; ++i) {
    columns[i] = cells.data() + static_cast<size_t>(i) * ny;
    for (PLINT j = 0; j < ny; ++j) columns[i][j] = c.z[j][i];
  }
  std::vector<PLFLT> xs(c.x.begin(), c.x.end()), ys(c.y.begin(), c.y.end());
  PLcGrid grid{xs.data(), ys.data(), nullptr, nx, ny, 0};
  std::vector<PLFLT> levels(c.levels.begin(), c.levels.end());
  // Bands reach the grid's lowest and highest values, so no region is left
  // unfilled; lines are drawn at the given levels only.
  double lo = levels.front(), hi = levels.back();
  for (const auto& row : c.z) {
    for (double v : row) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  std::vector<PLFLT> bands = levels;
  if (lo < bands.front()) bands.insert(bands.begin(), lo);
  if (hi > bands.back()) bands.push_back(hi);
  // Light blue-grey for the low values up to white for the high ones.
  const PLFLT pos[2] = {0, 1}, r[2] = {0.62, 1.0}, g[2] = {0.74, 1.0}, b[2] = {0.90, 1.0};
  plscmap1l(1, 2, pos, r, g, b, nullptr);
  plshades(const_cast<const PLFLT* const*>(columns.data()), nx, ny, nullptr, xs.front(), xs.back(), ys.front(),
           ys.back(), bands.data(), static_cast<PLINT>(bands.size()), 1, 0, 0, plfill, 1, pltr1, &grid);
  plcol0(kContour);
  plwidth(0.6);
  plcont(const_cast<const PLFLT* const*>(columns.data()), nx, ny, 1, nx, 1, ny, levels.data(),
         static_cast<PLINT>(levels.size()), pltr1, &grid);
}

// text_scale: PLplot's character scale that gives kTextPixels-high text
// (pllegend sets the scale itself rather than using the current one).
void draw_panel(const Panel& p, double vx0, double vx1, double vy0, double vy1, double text_scale) {
  std::vector<double> x, y, lo, hi;
  Range xr, yr;
  for (const Series& s : p.series) {
    drawable(s, p, x, y, &lo, &hi);
    for (double v : x) xr.add(v);
    for (size_t i = 0; i < y.size(); ++i) yr.add(lo[i]), yr.add(hi[i]);
  }
  for (const Mark& m : p.marks) xr.add(axis_value(m.x, p.log_x));
  xr = p.log_x ? xr.padded(0.02) : xr.padded(0.01);
  yr = yr.padded(0.04);
  if (p.x_range) xr = {axis_value(p.x_range->first, p.log_x), axis_value(p.x_range->second, p.log_x)};
  if (p.y_range) yr = {axis_value(p.y_range->first, p.log_y), axis_value(p.y_range->second, p.log_y)};

  plvpor(vx0, vx1, vy0, vy1);
  plwind(xr.lo, xr.hi, yr.lo, yr.hi);
  if (p.contour) draw_contour(*p.contour);
  // Log axes are labelled here at 1, 2 and 5 times powers of ten (PLplot
  // would label only whole decades); linear axes by PLplot.
  const std::string xopt = p.log_x ? "l" : "n", yopt = p.log_y ? "l" : "nv";
  plcol0(kGrid);
  plwidth(0.5);
  plbox(p.log_x ? "" : "g", 0, 0, p.log_y ? "" : "g", 0, 0);
  if (p.log_x) log_axis_labels(true, xr, yr);
  // The y label clears the widest tick label ("0.0001", "1e-05"): a digit
  // is about 0.75 of the character height wide.
  double y_label_offset = 5.0;
  if (p.log_y) y_label_offset = std::max(5.0, 1.6 + 0.75 * static_cast<double>(log_axis_labels(false, yr, xr)));
  plcol0(kInk);
  plwidth(1);
  plbox(("bcst" + xopt).c_str(), 0, 0, ("bcst" + yopt).c_str(), 0, 0);
  plmtex("b", 3.4, 0.5, 0.5, escaped(p.x_label).c_str());
  plmtex("l", y_label_offset, 0.5, 0.5, escaped(p.y_label).c_str());
  plmtex("t", 1.0, 0.5, 0.5, escaped(p.title).c_str());

  // Faint series first, so the others are drawn over them.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Series& s : p.series) {
      if (s.faint != (pass == 0)) continue;
      drawable(s, p, x, y, &lo, &hi);
      if (x.empty()) continue;
      plcol0(pen(s));
      plwidth(s.faint ? 0.8 : 2.0);
      pllsty(line_style(s));
      if (x.size() > 1 && !s.no_line) plline(static_cast<PLINT>(x.size()), x.data(), y.data());
      pllsty(1);
      if (!s.y_err.empty()) {
        plwidth(1.5);
        plerry(static_cast<PLINT>(x.size()), x.data(), lo.data(), hi.data());
      }
      if (s.markers || s.no_line || x.size() == 1) {
        plschr(0, text_scale * s.marker_scale);
        plstring(static_cast<PLINT>(x.size()), x.data(), y.data(), s.marker.c_str());
        plschr(0, text_scale);
      }
    }
  }
  for (const Mark& m : p.marks) {
    const double mx = axis_value(m.x, p.log_x);
    const double mxs[2] = {mx, mx}, mys[2] = {yr.lo, yr.hi};
    plcol0(pen(m.color, 0, false));
    plwidth(1.5);
    pllsty(2);
    plline(2, mxs, mys);
    pllsty(1);
  }

  draw_legend(p.series, p.marks, legend_position(p.legend), /*columns=*/1, text_scale);
}

void draw(const Figure& f, const char* device, const std::string& file) {
  PLINT stream = 0;
  plmkstrm(&stream);
  plsdev(device);
  plsfnam(file.c_str());
  plspage(0, 0, f.width, f.height, 0, 0);
  plscmap0n(kPens);
  plscol0(kBackground, 255, 255, 255);
  plscol0(kInk, 0, 0, 0);
  plscol0(kGrid, 225, 225, 225);
  plscol0(kContour, 160, 170, 190);
  for (int i = 0; i < kColors; ++i) {
    for (int shade = 0; shade < kShades; ++shade) {
      const Rgb c = mixed(kPalette[i], 1.0 - 0.18 * shade);
      plscol0(pen(i, shade, false), c.r, c.g, c.b);
    }
    const Rgb l = mixed(kPalette[i], 0.35);
    plscol0(pen(i, 0, true), l.r, l.g, l.b);
  }
  plinit();
  plfontld(1);
  // PLplot's cairo text is (width + height) / 100 pixels high at scale 1:
  // scale it so that text is the same size in every figure.
  const double px = (f.width + f.height) / 100.0;
  plschr(0, kTextPixels / px);
  pladv(0);
  const double title_band = f.title.empty() ? 0.0 : 50.0 / f.height;
  // The figure's legend under the title, in rows of as many entries as fit
  // (at most 6), each as wide as the longest label.
  size_t longest = 0;
  for (const Series& s : f.legend) longest = std::max(longest, s.label.size());
  const double entry_pixels = 90.0 + 9.0 * static_cast<double>(longest);
  const int per_row = std::clamp(static_cast<int>(0.96 * f.width / entry_pixels), 1, 6);
  const int legend_rows = (static_cast<int>(f.legend.size()) + per_row - 1) / per_row;
  const double legend_band = 24.0 * legend_rows / f.height;
  const int columns = std::max(1, f.columns);
  const int rows = (static_cast<int>(f.panels.size()) + columns - 1) / columns;
  // Margins inside each cell, in pixels: room for tick labels and titles.
  const double left = 85.0 / f.width, right = 20.0 / f.width, top = 35.0 / f.height, bottom = 60.0 / f.height;
  for (size_t i = 0; i < f.panels.size(); ++i) {
    const int r = static_cast<int>(i) / columns, c = static_cast<int>(i) % columns;
    const double cw = 1.0 / columns, ch = (1.0 - title_band - legend_band) / rows;
    const double x0 = c * cw, y1 = 1.0 - title_band - legend_band - r * ch;
    // A legend outside the panel takes 210 pixels on its right.
    const double legend_room = f.panels[i].legend == Panel::Corner::Outside ? 210.0 / f.width : 0.0;
    draw_panel(f.panels[i], x0 + left, x0 + cw - right - legend_room, y1 - ch + bottom, y1 - top, kTextPixels / px);
  }
  if (legend_rows > 0) {
    const double share = std::min(0.98, std::min<double>(per_row, f.legend.size()) * entry_pixels / f.width);
    plvpor(0.5 - share / 2, 0.5 + share / 2, 1 - title_band - legend_band, 1 - title_band);
    plwind(0, 1, 0, 1);
    draw_legend(f.legend, {}, PL_POSITION_TOP | PL_POSITION_INSIDE, per_row, kTextPixels / px);
  }
  if (!f.title.empty()) {
    plvpor(0, 1, 1 - title_band, 1);
    plwind(0, 1, 0, 1);
    plcol0(kInk);
    // Smaller type for a title too long for the width (measured: a title's
    // characters average 0.7 of the type's height in width).
    const double fit = (f.width - 40) / (0.72 * static_cast<double>(f.title.size()));
    plschr(0, std::min(kTitlePixels, fit) / px);
    plptex(0.5, 0.35, 1, 0, 0.5, escaped(f.title).c_str());
  }
  plend1();
}

void draw_gallery(const Gallery& g, const std::string& file) {
  const int columns = std::max(1, g.columns);
  const int rows = std::max(1, (static_cast<int>(g.cells.size()) + columns - 1) / columns);
  const int caption = 18, title = g.title.empty() ? 0 : 40, margin = 8;
  const int cell_w = g.cell_pixels + margin, cell_h = g.cell_pixels + caption + margin;
  const int width = columns * cell_w + margin, height = rows * cell_h + title + margin;
  PLINT stream = 0;
  plmkstrm(&stream);
  plsdev("pngcairo");
  plsfnam(file.c_str());
  plspage(0, 0, width, height, 0, 0);
  plscol0(kBackground, 255, 255, 255);
  plscol0(kInk, 0, 0, 0);
  // Grey levels: 0 black, 255 white.
  const PLFLT pos[2] = {0, 1}, grey[2] = {0, 1};
  plscmap1l(1, 2, pos, grey, grey, grey, nullptr);
  plinit();
  plfontld(1);
  const double px = (width + height) / 100.0;
  pladv(0);
  if (!g.title.empty()) {
    plvpor(0, 1, 1 - static_cast<double>(title) / height, 1);
    plwind(0, 1, 0, 1);
    plcol0(kInk);
    plschr(0, kTitlePixels / px);
    plptex(0.5, 0.4, 1, 0, 0.5, escaped(g.title).c_str());
  }
  plschr(0, 11.0 / px);
  for (size_t i = 0; i < g.cells.size(); ++i) {
    const GalleryCell& c = g.cells[i];
    if (c.width < 1 || c.height < 1 || c.pixels.size() != static_cast<size_t>(c.width) * c.height) continue;
    const int r = static_cast<int>(i) / columns, col = static_cast<int>(i) % columns;
    const double x0 = static_cast<double>(margin + col * cell_w) / width;
    const double y1 = 1 - static_cast<double>(title + margin + r * cell_h) / height;
    const double x1 = x0 + static_cast<double>(g.cell_pixels) / width;
    const double y0 = y1 - static_cast<double>(g.cell_pixels) / height;
    plvpor(x0, x1, y0, y1);
    plwind(0, c.width, 0, c.height);
    // PLplot's z[i][j] is column i, row j counted from the bottom.
    std::vector<PLFLT> cells(static_cast<size_t>(c.width) * c.height);
    std::vector<PLFLT*> columns_of(static_cast<size_t>(c.width));
    for (int x = 0; x < c.width; ++x) {
      columns_of[x] = cells.data() + static_cast<size_t>(x) * c.height;
      for (int y = 0; y < c.height; ++y) columns_of[x][y] = c.pixels[static_cast<size_t>(c.height - 1 - y) * c.width + x];
    }
    plimage(const_cast<const PLFLT* const*>(columns_of.data()), c.width, c.height, 0, c.width, 0, c.height, 0, 255, 0,
            c.width, 0, c.height);
    plcol0(kInk);
    plmtex("b", 1.3, 0.5, 0.5, escaped(c.caption).c_str());
  }
  plend1();
}

// PLplot exits the process after this, whatever it returns; require_drivers
// makes sure the usual cause (a missing driver) is caught before any work.
int on_plplot_error(const char* message) {
  std::fprintf(stderr, "mnist: plotting failed: %s\n", message);
  std::fflush(stderr);
  return 1;
}

}  // namespace

void require_drivers() {
  plsexit(on_plplot_error);
  static const bool present = [] {
    constexpr int kMax = 128;
    const char* menu_storage[kMax];
    const char* name_storage[kMax];
    const char** menus = menu_storage;
    const char** names = name_storage;
    int count = kMax;
    plgDevs(&menus, &names, &count);
    bool png = false, svg = false;
    for (int i = 0; i < count; ++i) {
      png = png || std::strcmp(names[i], "pngcairo") == 0;
      svg = svg || std::strcmp(names[i], "svgcairo") == 0;
    }
    return png && svg;
  }();
  if (!present) {
    throw Error(
        "plotting needs PLplot's pngcairo and svgcairo drivers, which are not installed (Debian package "
        "plplot-driver-cairo; scripts/setup.sh installs it)");
  }
}

void save(const Figure& figure, const std::string& stem) {
  require_drivers();
  plsexit(on_plplot_error);
  for (const auto& [device, ext] : {std::pair{"pngcairo", ".png"}, std::pair{"svgcairo", ".svg"}}) {
    const std::string path = stem + ext;
    check_output(path);
    // PLplot writes its file itself: draw into a private name, then publish
    // the bytes atomically.
    const std::string scratch = fmt::format("{}.plot-{}{}", stem, ::getpid(), ext);
    draw(figure, device, scratch);
    try {
      const std::string bytes = read_file(scratch);
      std::filesystem::remove(scratch);
      if (bytes.empty()) throw Error(path + ": the plot came out empty");
      write_output(path, bytes, OutputUse::File);
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(scratch, ec);
      throw;
    }
  }
}

void save(const Gallery& gallery, const std::string& stem) {
  require_drivers();
  plsexit(on_plplot_error);
  const std::string path = stem + ".png";
  check_output(path);
  const std::string scratch = fmt::format("{}.plot-{}.png", stem, ::getpid());
  draw_gallery(gallery, scratch);
  try {
    const std::string bytes = read_file(scratch);
    std::filesystem::remove(scratch);
    if (bytes.empty()) throw Error(path + ": the picture came out empty");
    write_output(path, bytes, OutputUse::File);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(scratch, ec);
    throw;
  }
}

}  // namespace mnist::plot
