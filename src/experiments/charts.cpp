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
  std::vector<double> lrs;
  for (const RunSpec& run : runs) {
    if (panel_per_lr && std::find(lrs.begin(), lrs.end(), run.lr) == lrs.end()) lrs.push_back(run.lr);
  }
  if (!panel_per_lr) lrs.push_back(0);
  std::vector<std::string> optimizers;  // colour i is optimizers[i]
  double low = INFINITY, high = 0;      // one loss range for every panel, so panels compare
  for (double lr : lrs) {
    plot::Panel panel;
    panel.x_label = fmt::format("step (batch of {})", runs.front().config.batch_size);
    panel.y_label = "training loss (log scale)";
    panel.log_y = true;
    std::vector<plot::Series> smooth;
    std::vector<std::string> diverged;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (panel_per_lr && runs[i].lr != lr) continue;
      const RunRecord& rec = records[i];
      const int color = index_of(optimizers, runs[i].optimizer);
      if (rec.diverged) index_of(diverged, runs[i].optimizer);
      plot::Series raw, line;
      raw.color = line.color = color;
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
      panel.series.push_back(std::move(raw));
      smooth.push_back(std::move(line));
    }
    for (auto& s : smooth) panel.series.push_back(std::move(s));
    panel.title = panel_per_lr ? fmt::format("learning rate {:g}", lr) : "each optimizer at its default learning rate";
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
  // One legend for all panels: an optimizer has one colour throughout.
  for (size_t c = 0; c < optimizers.size(); ++c) {
    plot::Series entry;
    entry.color = static_cast<int>(c);
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
  figure.height = 420 * rows + 84;
  figure.title = "Training loss (smoothed; raw loss faint), " + subtitle;
  return figure;
}

plot::Figure accuracy_figure(const std::vector<SummaryRow>& rows, const std::string& subtitle) {
  plot::Figure figure = learning_rate_figure(1300, 560, "Test accuracy against learning rate, " + subtitle,
                                             "test accuracy (%), mean ± sd over seeds");
  plot::Panel& panel = figure.panels.front();
  panel.title = "all runs";
  std::vector<std::string> optimizers;
  std::vector<plot::Series> series;
  for (const SummaryRow& row : rows) {
    const int color = index_of(optimizers, row.optimizer);
    if (static_cast<int>(series.size()) <= color) {
      series.emplace_back();
      series.back().color = color;
      series.back().markers = true;
      figure.legend.push_back(series.back());
      figure.legend.back().label = row.optimizer;
    }
    if (row.accuracy.n == 0) continue;  // every seed diverged at this rate: no point
    series[color].x.push_back(row.lr);
    series[color].y.push_back(100 * row.accuracy.mean);
    series[color].y_err.push_back(100 * row.accuracy.sd);
  }
  for (auto& s : series) {
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
  // Beside it, a close-up of the top 2.5 points, where the good optimizers
  // differ by tenths that the full range squeezes together.
  double best = 0;
  for (const auto& s : panel.series) {
    for (double y : s.y) best = std::max(best, y);
  }
  plot::Panel zoom = panel;
  zoom.title = "close-up of the best";
  zoom.y_range = std::pair{best - 2.5, std::min(100.0, best + 0.5)};
  figure.panels.push_back(std::move(zoom));
  figure.columns = 2;
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
  panel.marks.push_back(
      {result.suggested_lr, fmt::format("suggested lr {:.3g} (steepest fall)", result.suggested_lr), 1});
  panel.marks.push_back(
      {result.min_loss_lr_div10, fmt::format("lr of the lowest loss / 10 = {:.3g}", result.min_loss_lr_div10), 2});
  panel.y_range = std::pair{0.0, high * 1.1};
  panel.legend = plot::Panel::Corner::BottomLeft;
  return figure;
}

}  // namespace mnist
