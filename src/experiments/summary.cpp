#include "experiments/summary.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace mnist {

double smoothing_steps(int64_t total_steps) { return std::max(1.0, static_cast<double>(total_steps) / 30.0); }

std::vector<double> smooth_losses(const std::vector<RunRecord::Point>& points, double tau) {
  const double beta = 1.0 - 1.0 / std::max(1.0, tau);
  std::vector<double> smoothed;
  smoothed.reserve(points.size());
  double avg = 0, norm = 0;
  int64_t previous = -1;  // the step before the first
  for (const auto& p : points) {
    const double decay = std::pow(beta, static_cast<double>(std::max<int64_t>(1, p.step - previous)));
    avg = decay * avg + (1 - decay) * p.loss;
    norm = decay * norm + (1 - decay);
    smoothed.push_back(norm > 0 ? avg / norm : p.loss);
    previous = p.step;
  }
  return smoothed;
}

Stat stat_of(const std::vector<double>& values) {
  Stat s;
  s.n = static_cast<int>(values.size());
  if (s.n == 0) return s;
  for (double v : values) s.mean += v;
  s.mean /= s.n;
  if (s.n > 1) {
    double squares = 0;
    for (double v : values) squares += (v - s.mean) * (v - s.mean);
    s.sd = std::sqrt(squares / (s.n - 1));
  }
  return s;
}

std::vector<SummaryRow> summarize(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records,
                                  double loss_threshold) {
  std::vector<SummaryRow> rows;
  for (size_t i = 0; i < runs.size();) {
    size_t end = i;
    while (end < runs.size() && runs[end].optimizer == runs[i].optimizer && runs[end].lr == runs[i].lr) ++end;
    SummaryRow row;
    row.optimizer = runs[i].optimizer;
    row.lr = runs[i].lr;
    std::vector<double> losses, accuracies, seconds, steps;
    for (size_t r = i; r < end; ++r) {
      const RunRecord& rec = records[r];
      ++row.runs;
      seconds.push_back(rec.seconds);
      if (rec.diverged) {
        ++row.diverged;
        continue;
      }
      if (const auto loss = rec.final_train_loss()) losses.push_back(*loss);
      accuracies.push_back(rec.test_accuracy);
      const auto smoothed = smooth_losses(rec.losses, smoothing_steps(rec.steps));
      for (size_t k = 0; k < smoothed.size(); ++k) {
        if (smoothed[k] <= loss_threshold) {
          steps.push_back(static_cast<double>(rec.losses[k].step + 1));
          break;
        }
      }
    }
    row.final_loss = stat_of(losses);
    row.accuracy = stat_of(accuracies);
    row.seconds = stat_of(seconds);
    row.steps_to_threshold = stat_of(steps);
    row.reached = static_cast<int>(steps.size());
    rows.push_back(row);
    i = end;
  }
  return rows;
}

double standard_error(const Stat& s) { return s.n > 1 ? s.sd / std::sqrt(static_cast<double>(s.n)) : 0.0; }

std::string summary_csv(const std::vector<SummaryRow>& rows) {
  std::string out =
      "optimizer,lr,runs,diverged,test_accuracy_percent_mean,"
      "test_accuracy_percent_sd,final_train_loss_mean,"
      "final_train_loss_sd,runs_reaching_loss,steps_to_loss_mean,"
      "test_accuracy_percent_se,swept\n";
  auto num = [](const Stat& s, double v, const char* f) { return s.n ? fmt::format(fmt::runtime(f), v) : ""; };
  auto sd = [](const Stat& s, double v, const char* f) { return s.n > 1 ? fmt::format(fmt::runtime(f), v) : ""; };
  for (const auto& r : rows) {
    out += fmt::format("{},{:g},{},{},{},{},{},{},{},{},{},{}\n", r.optimizer, r.lr, r.runs, r.diverged,
                       num(r.accuracy, 100 * r.accuracy.mean, "{:.4f}"), sd(r.accuracy, 100 * r.accuracy.sd, "{:.4f}"),
                       num(r.final_loss, r.final_loss.mean, "{:.6f}"), sd(r.final_loss, r.final_loss.sd, "{:.6f}"),
                       r.reached, num(r.steps_to_threshold, r.steps_to_threshold.mean, "{:.1f}"),
                       sd(r.accuracy, 100 * standard_error(r.accuracy), "{:.4f}"), swept_key(r.optimizer));
  }
  return out;
}

std::string summary_markdown(const std::vector<SummaryRow>& rows, double loss_threshold) {
  std::string out = fmt::format(
      "| optimizer | lr | test accuracy (%, ± s.e.) | final train loss (± s.d.) | "
      "steps to loss ≤ {:g} |\n"
      "|---|---:|---:|---:|---:|\n",
      loss_threshold);
  for (const auto& r : rows) {
    std::string accuracy, loss, steps;
    if (r.accuracy.n > 0) {
      accuracy = r.accuracy.n > 1 ? fmt::format("{:.2f} ± {:.2f}", 100 * r.accuracy.mean, 100 * standard_error(r.accuracy))
                                  : fmt::format("{:.2f}", 100 * r.accuracy.mean);
      loss = r.final_loss.n > 1   ? fmt::format("{:.4f} ± {:.4f}", r.final_loss.mean, r.final_loss.sd)
             : r.final_loss.n == 1 ? fmt::format("{:.4f}", r.final_loss.mean)
                                   : "–";
    }
    if (r.diverged > 0) {
      const std::string note = fmt::format("diverged in {} of {} runs", r.diverged, r.runs);
      accuracy = accuracy.empty() ? note : accuracy + " (" + note + ")";
      if (loss.empty()) loss = "–";
    }
    steps = r.reached == 0 ? "never" : fmt::format("{:.0f}", r.steps_to_threshold.mean);
    if (r.reached > 0 && r.reached < r.runs) steps += fmt::format(" ({} of {} runs)", r.reached, r.runs);
    const std::string key = swept_key(r.optimizer);
    const std::string rate = key == "lr" ? fmt::format("{:g}", r.lr) : fmt::format("{:g} ({})", r.lr, key);
    out += fmt::format("| {} | {} | {} | {} | {} |\n", r.optimizer, rate, accuracy, loss, steps);
  }
  return out;
}

std::string timing_csv(const std::vector<SummaryRow>& rows) {
  std::string out = "optimizer,lr,runs,seconds_mean,seconds_sd\n";
  for (const auto& r : rows) {
    out += fmt::format("{},{:g},{},{:.3f},{:.3f}\n", r.optimizer, r.lr, r.runs, r.seconds.mean, r.seconds.sd);
  }
  return out;
}

}  // namespace mnist
