#pragma once
// The figures of `compare` and `lr-find`, built from their results.
#include <string>
#include <vector>

#include "experiments/summary.h"
#include "experiments/trajectories.h"
#include "train/evaluate.h"
#include "experiments/lr_find.h"
#include "plot/figure.h"

namespace mnist {

// Smoothed training loss against step for every run: one panel per learning
// rate (one panel in all when each optimizer ran at its own default), one
// colour per optimizer, every seed drawn, the raw logged loss faint behind.
plot::Figure loss_figure(const std::vector<RunSpec>& runs, const std::vector<RunRecord>& records, bool panel_per_lr,
                         const std::string& subtitle);

// The sensitivity figure: final test accuracy against learning rate (log
// axis), one line per optimizer (colour and dash), mean ± standard error
// over the seeds, each optimizer's default starred, learning-rate-free
// optimizers at their multiplier on the same axis; and a close-up of the
// best.
plot::Figure sensitivity_figure(const std::vector<SummaryRow>& rows, const std::string& subtitle);

// Loss against learning rate (log axis), raw and smoothed, with the
// suggestion and min-loss/10 marked.
plot::Figure lr_find_figure(const LrFindResult& result, const std::string& subtitle);

// The misclassified test images as a contact sheet, each captioned
// "true → predicted", in test-set order (at most `limit`).
plot::Gallery mistakes_gallery(const ImageSet& test, const InputScaling& scaling, const EvalResult& result,
                               size_t limit, const std::string& title);

// Optimizers on a 2-D function: the contour plot with each path from the
// start (●) towards the minimum (★), and the loss above the minimum
// against the step.
plot::Figure trajectories_figure(const TestFunction& f, const FunctionGrid& grid, const std::vector<Trajectory>& paths,
                                 const std::string& subtitle);

}  // namespace mnist
