#pragma once
// A comparison's summary across seeds: smoothed losses, mean and standard
// deviation of each grid cell's results, as CSV and Markdown tables.
#include <cstdint>
#include <string>
#include <vector>

#include "experiments/grid.h"
#include "train/metrics.h"

namespace mnist {

// Bias-corrected exponential moving average of a loss curve with a time
// constant of tau steps: each logged point is weighted by beta^(steps since
// the previous point) with beta = 1 - 1/tau, so the smoothing does not depend
// on how often the loss was logged.
std::vector<double> smooth_losses(const std::vector<RunRecord::Point>& points, double tau);

// The time constant compare uses for a run of total_steps: 1/30 of the run,
// at least one step.
double smoothing_steps(int64_t total_steps);

struct Stat {
  double mean = 0, sd = 0;  // sample standard deviation (0 for one value)
  int n = 0;
};
Stat stat_of(const std::vector<double>& values);
// The standard error of the mean, sd / sqrt(n) (0 for fewer than two values).
double standard_error(const Stat& s);

struct SummaryRow {
  std::string optimizer;
  double lr = 0;
  int runs = 0, diverged = 0;
  Stat final_loss;          // mean training loss of the last epoch, over the runs that
                            // did not diverge
  Stat accuracy;            // test accuracy (fraction), same runs
  Stat seconds;             // training time of each run
  Stat steps_to_threshold;  // over the runs whose smoothed loss reached the
                            // threshold
  int reached = 0;
};

// One row per optimizer x learning rate, in grid order.
std::vector<SummaryRow> summarize(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records,
                                  double loss_threshold);
// The summary depends only on the runs' results, so it is the same to the
// digit however the runs were spread (threads, jobs, MPI ranks); their
// times, which are not, go to timing_csv.
std::string summary_csv(const std::vector<SummaryRow>& rows);
std::string timing_csv(const std::vector<SummaryRow>& rows);
std::string summary_markdown(const std::vector<SummaryRow>& rows, double loss_threshold);

}  // namespace mnist
