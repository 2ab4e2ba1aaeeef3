#pragma once
// Optimizers on 2-D test functions: the paths they take from one start
// point, for the figures of `mnist trajectories` and the web lab. Each
// optimizer is the same class that trains networks, stepping on the two
// coordinates as one tensor, with the function's gradient (and, for LBFGS,
// its closure).
#include <array>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace mnist {

struct TestFunction {
  const char* name;
  const char* summary;  // what makes it hard
  std::array<double, 2> start, minimum;
  std::array<double, 2> x_range, y_range;  // the window drawn
  bool log_levels;                          // contour levels spaced on a log scale
  // The value and gradient at (x, y).
  double (*value)(double x, double y, double* gx, double* gy);
};

// rosenbrock, beale, saddle, quadratic.
const std::vector<TestFunction>& test_functions();
// UsageError naming --function for an unknown name.
const TestFunction& test_function(const std::string& name);

struct Trajectory {
  std::string optimizer;
  double lr = 0;                                // the learning rate (or lr-free multiplier) used
  std::vector<std::array<double, 2>> points;    // the start, then after each step (the evaluated point)
  std::vector<double> losses;                   // f at each point
  bool diverged = false;                        // left the window's far surroundings or stopped being finite
};

struct TrajectoryOptions {
  int steps = 200;
  // Learning rates by optimizer; an optimizer not named gets a rate tuned
  // on this function: the one of 1, 2, 5 x 10^k (1e-5 .. 10) that reaches
  // the lowest loss in `steps` without leaving the window. Learning-rate
  // free optimizers run at their defaults.
  std::vector<std::pair<std::string, double>> lrs;
};

// Runs each optimizer (registry names, default hyperparameters) from the
// function's start. UsageError naming the flag for an unknown optimizer, a
// learning rate that is not > 0 or steps out of 1 .. 100000.
std::vector<Trajectory> run_trajectories(const TestFunction& f, const std::vector<std::string>& optimizers,
                                         const TrajectoryOptions& options);

// The function on an nx x ny grid over its window (values[j][i] at
// x[i], y[j]), and contour levels for it.
struct FunctionGrid {
  std::vector<double> x, y;
  std::vector<std::vector<double>> values;
  std::vector<double> levels;
};
FunctionGrid function_grid(const TestFunction& f, int nx = 121, int ny = 121);

// The whole result as JSON (docs/web.md, "Trajectories"), and the points as
// CSV (optimizer, lr, step, x, y, loss).
std::string trajectories_json(const TestFunction& f, const FunctionGrid& grid, const std::vector<Trajectory>& paths);
std::string trajectories_csv(const std::vector<Trajectory>& paths);

}  // namespace mnist
