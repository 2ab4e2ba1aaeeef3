#include "experiments/charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace mnist {

namespace {

int index_of(std::vector<std::string>& names, const std::string& name) {
  auto it = std::find(names.begin(), names.end(), name);
  if (it != names.end()) return static_cast<int>(it - names.begin());
  names.push_back(name);
  return static_cast<int>(names.size()) - 1;
}

// A figure of one panel whose x axis is the learning rate, on a log scale.
plot::Figure learning_rate_figure(int width, int height, std::string title, std::string y_label) {
  plot::Figure figure;
  figure.width = width;
  figure.height = height;
  figure.title = std::move(title);
  plot::Panel panel;
  panel.x_label = "learning rate (log scale)";
  panel.y_label = std::move(y_label);
  panel.log_x = true;
  figure.panels.push_back(std::move(panel));
  return figure;
}

}  // namespace

plot::Figure loss_figure(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records, bool panel_per_lr,
                         const std::string& subtitle) {
  plot::Figure figure;
  // A panel per learning rate, or per factor of the defaults (--lr-factors).
  const bool by_factor = runs.front().factor > 0;
  auto panel_value = [&](const RunSpec& r) { return by_factor ? r.factor : r.lr; };
  std::vector<double> lrs;
  for (const RunSpec& run : runs) {
    if (panel_per_lr && std::find(lrs.begin(), lrs.end(), panel_value(run)) == lrs.end()) {
      lrs.push_back(panel_value(run));
    }
  }
  if (!panel_per_lr) lrs.push_back(0);
  std::vector<std::string> optimizers;  // colour and dash i are optimizers[i]'s
  double low = INFINITY, high = 0;      // one loss range for every panel, so panels compare
  bool any_raw = false;
  for (double lr : lrs) {
    plot::Panel panel;
    panel.x_label = fmt::format("step (batch of {})", runs.front().config.batch_size);
    panel.y_label = "training loss (log scale)";
    panel.log_y = true;
    const auto in_panel = [&](const RunSpec& r) { return !panel_per_lr || panel_value(r) == lr; };
    // The raw loss, faint behind the smoothed lines, only where it does not
    // bury them.
    const bool raw_drawn = std::count_if(runs.begin(), runs.end(), in_panel) <= 6;
    any_raw = any_raw || raw_drawn;
    std::vector<plot::Series> smooth;
    std::vector<std::string> diverged;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (!in_panel(runs[i])) continue;
      const RunRecord& rec = records[i];
      const int index = index_of(optimizers, runs[i].optimizer);
      // The seeds of one optimizer and rate: shades of its colour.
      const auto seed_rank = std::count_if(runs.begin(), runs.begin() + static_cast<std::ptrdiff_t>(i), [&](const RunSpec& r) {
        return r.optimizer == runs[i].optimizer && r.lr == runs[i].lr;
      });
      if (rec.diverged) index_of(diverged, runs[i].optimizer);
      plot::Series raw, line;
      raw.color = line.color = index % plot::kColors;
      line.style = index / plot::kColors;
      line.shade = static_cast<int>(seed_rank % plot::kShades);
      raw.faint = true;
      const auto smoothed = smooth_losses(rec.losses, smoothing_steps(rec.steps));
      for (size_t k = 0; k < rec.losses.size(); ++k) {
        const double step = static_cast<double>(rec.losses[k].step + 1);
        raw.x.push_back(step), raw.y.push_back(rec.losses[k].loss);
        line.x.push_back(step), line.y.push_back(smoothed[k]);
        if (smoothed[k] > 0 && std::isfinite(smoothed[k])) {
          low = std::min(low, smoothed[k]), high = std::max(high, smoothed[k]);
        }
      }
      if (raw_drawn) panel.series.push_back(std::move(raw));
      smooth.push_back(std::move(line));
    }
    for (auto& line : smooth) panel.series.push_back(std::move(line));
    panel.title = !panel_per_lr ? "each optimizer at its default learning rate"
                  : by_factor   ? fmt::format("{:g} x each optimizer's default learning rate", lr)
                                : fmt::format("learning rate {:g}", lr);
    if (!diverged.empty()) {
      std::string names;
      for (const auto& name : diverged) names += (names.empty() ? "" : ", ") + name;
      panel.title += " (diverged: " + names + ")";
    }
    figure.panels.push_back(std::move(panel));
  }
  if (high > 0) {
    for (auto& panel : figure.panels) panel.y_range = std::pair{low / 1.5, high * 1.5};
  }
  // One legend for all panels: an optimizer has one colour and dash throughout.
  for (size_t c = 0; c < optimizers.size(); ++c) {
    plot::Series entry;
    entry.color = static_cast<int>(c) % plot::kColors;
    entry.style = static_cast<int>(c) / plot::kColors;
    entry.label = optimizers[c];
    if (!panel_per_lr) {
      const auto run =
          std::find_if(runs.begin(), runs.end(), [&](const RunSpec& r) { return r.optimizer == optimizers[c]; });
      entry.label += fmt::format(" (lr {:g})", run->lr);
    }
    figure.legend.push_back(entry);
  }
  figure.columns = std::min<int>(3, static_cast<int>(figure.panels.size()));
  const int rows = (static_cast<int>(figure.panels.size()) + figure.columns - 1) / figure.columns;
  figure.width = std::max(900, 560 * figure.columns);
  figure.height = 420 * rows + 84 + 24 * ((static_cast<int>(optimizers.size()) + 2) / 3);
  const bool seeds = std::any_of(runs.begin(), runs.end(), [&](const RunSpec& r) { return r.seed != runs.front().seed; });
  figure.title = fmt::format("Training loss (smoothed{}{}), {}", any_raw ? "; raw loss faint" : "",
                             seeds ? "; seeds in shades of their colour" : "", subtitle);
  return figure;
}

namespace {

std::string rate_label(const std::string& optimizer) {
  if (optimizer_row(optimizer).multiplier == nullptr) return optimizer;
  const std::string key = swept_key(optimizer);
  return key == "lr" ? optimizer + " (x lr)" : fmt::format("{} (x {})", optimizer, key);
}

}  // namespace

plot::Figure sensitivity_figure(const std::vector<SummaryRow>& rows, const std::string& subtitle) {
  plot::Figure figure = learning_rate_figure(1400, 620, "Test accuracy against learning rate, " + subtitle,
                                             "test accuracy (%), mean ± standard error over seeds");
  plot::Panel& panel = figure.panels.front();
  panel.title = "every run (★ each optimizer's default)";
  panel.x_label = "learning rate; for lr-free optimizers their multiplier (log scale)";
  std::vector<std::string> optimizers;
  std::vector<plot::Series> lines, stars;
  for (const SummaryRow& row : rows) {
    const int index = index_of(optimizers, row.optimizer);
    if (static_cast<int>(lines.size()) <= index) {
      plot::Series line;
      line.color = index % plot::kColors;
      line.style = index / plot::kColors;
      line.markers = true;
      line.label = rate_label(row.optimizer);
      figure.legend.push_back(line);
      line.label.clear();
      lines.push_back(line);
      plot::Series star = line;
      star.no_line = true;
      star.marker = "★";
      star.marker_scale = 1.8;
      stars.push_back(star);
    }
    if (row.accuracy.n == 0) continue;  // every seed diverged at this rate: no point
    const double mean = 100 * row.accuracy.mean;
    const double se = 100 * standard_error(row.accuracy);
    lines[index].x.push_back(row.lr);
    lines[index].y.push_back(mean);
    lines[index].y_err.push_back(se);
    if (std::abs(row.lr - default_swept_value(row.optimizer)) <= 1e-9 * row.lr) {
      stars[index].x.push_back(row.lr);
      stars[index].y.push_back(mean);
    }
  }
  for (auto& s : lines) {
    // Points in order of learning rate, so the line reads left to right.
    std::vector<size_t> order(s.x.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    plot::Series sorted = s;
    for (size_t i = 0; i < order.size(); ++i) {
      sorted.x[i] = s.x[order[i]], sorted.y[i] = s.y[order[i]], sorted.y_err[i] = s.y_err[order[i]];
    }
    panel.series.push_back(std::move(sorted));
  }
  for (auto& s : stars) panel.series.push_back(std::move(s));
  // Below it, a close-up of the top 3 points, where the good optimizers
  // differ by tenths that the full range squeezes together.
  double best = 0;
  for (const auto& s : panel.series) {
    for (double y : s.y) best = std::max(best, y);
  }
  plot::Panel zoom = panel;
  zoom.title = "close-up of the best";
  zoom.y_range = std::pair{best - 3.0, std::min(100.0, best + 0.5)};
  figure.panels.push_back(std::move(zoom));
  figure.columns = 2;
  figure.height = 600 + 24 * ((static_cast<int>(figure.legend.size()) + 2) / 3);
  return figure;
}

plot::Figure lr_find_figure(const LrFindResult& result, const std::string& subtitle) {
  plot::Figure figure = learning_rate_figure(900, 600, "Learning-rate range test, " + subtitle, "training loss");
  plot::Panel& panel = figure.panels.front();
  plot::Series raw, smoothed;
  raw.faint = true;
  raw.label = "loss of each batch";
  smoothed.label = "smoothed (EMA, β 0.98)";
  double high = 0;
  for (const auto& p : result.points) {
    raw.x.push_back(p.lr), raw.y.push_back(p.loss);
    smoothed.x.push_back(p.lr), smoothed.y.push_back(p.smoothed);
    high = std::max(high, p.smoothed);
  }
  panel.series = {raw, smoothed};
  // The legend goes above the panel, where no curve runs: the raw losses
  // fill the bottom left at a good learning rate, the top right after it.
  figure.legend = {raw, smoothed};
  for (auto& entry : figure.legend) entry.x.clear(), entry.y.clear();
  for (auto& series : panel.series) series.label.clear();  // in the figure's legend instead
  const std::pair<double, std::string> marks[] = {
      {result.suggested_lr, fmt::format("suggested lr {:.3g} (steepest fall)", result.suggested_lr)},
      {result.min_loss_lr_div10, fmt::format("lr of the lowest loss / 10 = {:.3g}", result.min_loss_lr_div10)}};
  for (int i = 0; i < 2; ++i) {
    panel.marks.push_back({marks[i].first, "", i + 1});
    plot::Series entry;
    entry.label = marks[i].second;
    entry.color = i + 1;
    entry.style = 2;  // the marks' line style
    figure.legend.push_back(entry);
  }
  panel.y_range = std::pair{0.0, high * 1.1};
  figure.height = 600 + 24 * 2;
  return figure;
}

plot::Figure trajectories_figure(const TestFunction& f, const FunctionGrid& grid, const std::vector<Trajectory>& paths,
                                 const std::string& subtitle) {
  plot::Figure figure;
  figure.title = fmt::format("{}: {}", f.name, subtitle);
  plot::Panel map, loss;
  map.title = f.summary;
  map.x_label = "x";
  map.y_label = "y";
  map.x_range = std::pair{f.x_range[0], f.x_range[1]};
  map.y_range = std::pair{f.y_range[0], f.y_range[1]};
  map.contour = plot::Contour{grid.x, grid.y, grid.values, grid.levels};
  loss.title = "loss above the minimum";
  loss.x_label = "step";
  loss.y_label = "f - f(minimum) (log scale)";
  loss.log_y = true;
  double unused_x = 0, unused_y = 0;
  const double floor = f.value(f.minimum[0], f.minimum[1], &unused_x, &unused_y);
  for (size_t i = 0; i < paths.size(); ++i) {
    const Trajectory& t = paths[i];
    plot::Series path, curve;
    path.color = curve.color = static_cast<int>(i) % plot::kColors;
    path.style = curve.style = static_cast<int>(i) / plot::kColors;
    path.markers = t.points.size() <= 60;
    for (size_t s = 0; s < t.points.size(); ++s) {
      path.x.push_back(t.points[s][0]);
      path.y.push_back(t.points[s][1]);
      curve.x.push_back(static_cast<double>(s));
      curve.y.push_back(std::max(t.losses[s] - floor, 1e-12));
    }
    plot::Series entry = curve;
    entry.label = fmt::format("{} (lr {:g}){}", t.optimizer, t.lr, t.diverged ? ", diverged" : "");
    figure.legend.push_back(entry);
    map.series.push_back(std::move(path));
    loss.series.push_back(std::move(curve));
  }
  plot::Series start, minimum;
  start.no_line = minimum.no_line = true;
  start.color = minimum.color = 4;  // black
  start.marker = "●";
  minimum.marker = "★";
  start.marker_scale = minimum.marker_scale = 1.8;
  start.x = {f.start[0]}, start.y = {f.start[1]};
  minimum.x = {f.minimum[0]}, minimum.y = {f.minimum[1]};
  map.series.push_back(start);
  map.series.push_back(minimum);
  figure.panels = {std::move(map), std::move(loss)};
  figure.columns = 2;
  figure.width = 1400;
  figure.height = 640 + 24 * ((static_cast<int>(figure.legend.size()) + 2) / 3);
  return figure;
}

plot::Gallery mistakes_gallery(const ImageSet& test, const InputScaling& scaling, const EvalResult& result,
                               size_t limit, const std::string& title) {
  plot::Gallery gallery;
  gallery.title = title;
  const size_t image = test.image_size();
  for (int i = 0; i < test.count && gallery.cells.size() < limit; ++i) {
    if (result.predicted[i] == test.labels[i]) continue;
    plot::GalleryCell cell;
    cell.width = test.cols;
    cell.height = test.rows;
    cell.pixels.resize(image);
    for (size_t k = 0; k < image; ++k) {
      const size_t at = static_cast<size_t>(i) * image + k;
      cell.pixels[k] = test.pixels.empty() ? scaling.pixel_of(test.values[at]) : test.pixels[at];
    }
    cell.caption = fmt::format("{} → {}", test.labels[i], result.predicted[i]);
    gallery.cells.push_back(std::move(cell));
  }
  gallery.columns = std::clamp(static_cast<int>(std::ceil(std::sqrt(gallery.cells.size() * 1.6))), 4, 24);
  return gallery;
}

}  // namespace mnist
