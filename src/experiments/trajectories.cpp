#include "experiments/trajectories.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <numbers>
#include <optional>

#include "util/error.h"

namespace mnist {

namespace {

// (1 - x)^2 + 100 (y - x^2)^2: a curved, flat-bottomed valley.
double rosenbrock(double x, double y, double* gx, double* gy) {
  const double a = 1 - x, b = y - x * x;
  *gx = -2 * a - 400 * x * b;
  *gy = 200 * b;
  return a * a + 100 * b * b;
}

// Beale's function: flat plateaus and steep walls around a narrow minimum.
double beale(double x, double y, double* gx, double* gy) {
  const double y2 = y * y, y3 = y2 * y;
  const double t1 = 1.5 - x + x * y, t2 = 2.25 - x + x * y2, t3 = 2.625 - x + x * y3;
  *gx = 2 * t1 * (y - 1) + 2 * t2 * (y2 - 1) + 2 * t3 * (y3 - 1);
  *gy = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y2;
  return t1 * t1 + t2 * t2 + t3 * t3;
}

// x^2 - y^2 + y^4 / 2: a saddle at the origin between minima at (0, +-1).
double saddle(double x, double y, double* gx, double* gy) {
  *gx = 2 * x;
  *gy = -2 * y + 2 * y * y * y;
  return x * x - y * y + y * y * y * y / 2;
}

// (u^2 + 50 v^2) / 2 in axes rotated by 30 degrees: condition number 50,
// the valley not aligned with the coordinates (so per-coordinate scaling,
// as Adam's, does not undo it).
double quadratic(double x, double y, double* gx, double* gy) {
  const double c = std::cos(std::numbers::pi / 6), s = std::sin(std::numbers::pi / 6);
  const double u = c * x + s * y, v = -s * x + c * y;
  const double du = u, dv = 50 * v;
  *gx = c * du - s * dv;
  *gy = s * du + c * dv;
  return (u * u + 50 * v * v) / 2;
}

// The step counts and learning rates of one path.
Trajectory run_one(const TestFunction& f, const std::string& optimizer, double lr, bool use_lr, int steps) {
  OptimizerConfig config;
  config.name = optimizer;
  if (use_lr) set_swept_value(config, lr);
  const OptimizerConfig resolved = config.resolved();
  const std::vector<ParamTensor> tensors = {{"xy", {2}, 0, 2, false}};
  auto opt = make_optimizer(resolved, tensors);
  Trajectory t;
  t.optimizer = optimizer;
  t.lr = swept_value(resolved);
  std::vector<float> p = {static_cast<float>(f.start[0]), static_cast<float>(f.start[1])}, g(2), at(2);
  auto evaluate = [&] {
    double gx = 0, gy = 0;
    const double value = f.value(p[0], p[1], &gx, &gy);
    g = {static_cast<float>(gx), static_cast<float>(gy)};
    return value;
  };
  double unused_x = 0, unused_y = 0;
  t.points.push_back(f.start);
  t.losses.push_back(f.value(f.start[0], f.start[1], &unused_x, &unused_y));
  // Far outside the window: the path has left for good.
  const double span = std::max(f.x_range[1] - f.x_range[0], f.y_range[1] - f.y_range[0]);
  for (int s = 0; s < steps; ++s) {
    const Closure closure{evaluate(), evaluate};
    opt->step(p, g, *resolved.lr, &closure);
    opt->eval_point(p, at);
    const double x = at[0], y = at[1];
    const double value = f.value(x, y, &unused_x, &unused_y);
    const bool lost = !std::isfinite(value) || std::abs(x - f.minimum[0]) > 5 * span ||
                      std::abs(y - f.minimum[1]) > 5 * span;
    if (lost) {
      t.diverged = true;
      break;
    }
    t.points.push_back({x, y});
    t.losses.push_back(value);
  }
  return t;
}

bool inside(const TestFunction& f, const Trajectory& t) {
  return std::all_of(t.points.begin(), t.points.end(), [&](const std::array<double, 2>& p) {
    return p[0] >= f.x_range[0] && p[0] <= f.x_range[1] && p[1] >= f.y_range[0] && p[1] <= f.y_range[1];
  });
}

// A readable path: of the rates 1, 2, 5 x 10^k whose paths stay in the
// window and never climb to 10x their starting loss, the one that ends
// lowest; where such paths converge, the smallest rate that ends within 3x
// of the lowest (larger rates only add zigzags).
Trajectory tuned(const TestFunction& f, const std::string& optimizer, int steps) {
  double unused_x = 0, unused_y = 0;
  const double floor = f.value(f.minimum[0], f.minimum[1], &unused_x, &unused_y);
  std::vector<Trajectory> candidates;
  for (int k = -5; k <= 1; ++k) {
    for (double m : {1.0, 2.0, 5.0}) {
      Trajectory t = run_one(f, optimizer, m * std::pow(10.0, k), true, steps);
      const double start = t.losses.front() - floor;
      const bool climbs =
          std::any_of(t.losses.begin(), t.losses.end(), [&](double v) { return v - floor > 10 * start; });
      if (!t.diverged && !climbs && inside(f, t)) candidates.push_back(std::move(t));
    }
  }
  if (candidates.empty()) return run_one(f, optimizer, 0, false, steps);  // none qualifies: its default
  auto above = [&](const Trajectory& t) { return std::max(t.losses.back() - floor, 0.0); };
  const Trajectory* best = &candidates.front();
  for (const Trajectory& t : candidates) {
    if (above(t) < above(*best)) best = &t;
  }
  // Where paths converge (to a thousandth of the start), any that comes
  // within 3x of the best has converged too: the smallest rate draws it
  // most plainly.
  const double start = best->losses.front() - floor;
  if (above(*best) <= 1e-3 * start) {
    for (Trajectory& t : candidates) {
      if (above(t) <= 3 * above(*best) + 1e-12) return std::move(t);
    }
  }
  return *best;
}

}  // namespace

const std::vector<TestFunction>& test_functions() {
  static const std::vector<TestFunction> functions = {
      {"rosenbrock", "a curved valley with a flat floor: easy to reach, slow to follow to (1, 1)", {-1.5, 2.0},
       {1.0, 1.0}, {-2.0, 2.0}, {-1.0, 3.0}, true, rosenbrock},
      {"beale", "flat plateaus and steep walls: the gradient's size varies by orders of magnitude", {1.0, 1.4},
       {3.0, 0.5}, {-1.0, 4.5}, {-1.5, 2.5}, true, beale},
      {"saddle", "a saddle at the origin: the gradient there is tiny, and the way down is sideways", {-1.5, 0.01},
       {0.0, 1.0}, {-2.0, 2.0}, {-1.6, 1.6}, false, saddle},
      {"quadratic", "an ill-conditioned bowl (condition number 50), tilted 30 degrees off the axes", {-2.0, 1.5},
       {0.0, 0.0}, {-2.5, 2.5}, {-2.0, 2.0}, true, quadratic},
  };
  return functions;
}

const TestFunction& test_function(const std::string& name) {
  for (const TestFunction& f : test_functions()) {
    if (name == f.name) return f;
  }
  std::vector<std::string> names;
  for (const TestFunction& f : test_functions()) names.emplace_back(f.name);
  throw UsageError(fmt::format("--function: unknown function '{}' (choose {})", name, fmt::join(names, ", ")));
}

std::vector<Trajectory> run_trajectories(const TestFunction& f, const std::vector<std::string>& optimizers,
                                         const TrajectoryOptions& options) {
  if (options.steps < 1 || options.steps > 100000) {
    throw UsageError(fmt::format("--steps: must be 1 to 100000, got {}", options.steps));
  }
  if (optimizers.empty()) throw UsageError("--optimizers: the list is empty");
  for (const auto& [name, lr] : options.lrs) {
    if (!(std::isfinite(lr) && lr > 0)) throw UsageError(fmt::format("--lr: must be > 0 for {}, got {}", name, lr));
  }
  std::vector<Trajectory> paths;
  for (const std::string& name : optimizers) {
    (void)optimizer_row(name);  // UsageError for an unknown name
    const auto given = std::find_if(options.lrs.begin(), options.lrs.end(), [&](const auto& e) { return e.first == name; });
    if (given != options.lrs.end()) {
      paths.push_back(run_one(f, name, given->second, true, options.steps));
    } else if (optimizer_row(name).multiplier != nullptr) {
      paths.push_back(run_one(f, name, 0, false, options.steps));
    } else {
      paths.push_back(tuned(f, name, options.steps));
    }
  }
  return paths;
}

FunctionGrid function_grid(const TestFunction& f, int nx, int ny) {
  FunctionGrid grid;
  double lo = INFINITY, hi = -INFINITY, gx = 0, gy = 0;
  for (int i = 0; i < nx; ++i) grid.x.push_back(f.x_range[0] + (f.x_range[1] - f.x_range[0]) * i / (nx - 1));
  for (int j = 0; j < ny; ++j) grid.y.push_back(f.y_range[0] + (f.y_range[1] - f.y_range[0]) * j / (ny - 1));
  for (double y : grid.y) {
    std::vector<double> row;
    for (double x : grid.x) {
      const double v = f.value(x, y, &gx, &gy);
      row.push_back(v);
      lo = std::min(lo, v), hi = std::max(hi, v);
    }
    grid.values.push_back(std::move(row));
  }
  constexpr int kLevels = 24;
  if (f.log_levels) {
    // Levels above the minimum, evenly spaced in log(f - min).
    const double floor = std::max(lo, 0.0), a = std::log10((hi - floor) * 1e-4), b = std::log10(hi - floor);
    for (int k = 0; k < kLevels; ++k) grid.levels.push_back(floor + std::pow(10.0, a + (b - a) * k / (kLevels - 1)));
  } else {
    for (int k = 0; k < kLevels; ++k) grid.levels.push_back(lo + (hi - lo) * (k + 0.5) / kLevels);
  }
  return grid;
}

std::string trajectories_json(const TestFunction& f, const FunctionGrid& grid, const std::vector<Trajectory>& paths) {
  nlohmann::json j = {{"function", f.name},       {"summary", f.summary},     {"start", f.start},
                      {"minimum", f.minimum},     {"x_range", f.x_range},     {"y_range", f.y_range},
                      {"grid", {{"x", grid.x}, {"y", grid.y}, {"values", grid.values}}},
                      {"levels", grid.levels}};
  j["paths"] = nlohmann::json::array();
  for (const Trajectory& t : paths) {
    j["paths"].push_back({{"optimizer", t.optimizer},
                          {"lr", t.lr},
                          {"diverged", t.diverged},
                          {"points", t.points},
                          {"losses", t.losses}});
  }
  return j.dump();
}

std::string trajectories_csv(const std::vector<Trajectory>& paths) {
  std::string out = "optimizer,lr,step,x,y,loss\n";
  for (const Trajectory& t : paths) {
    for (size_t s = 0; s < t.points.size(); ++s) {
      out += fmt::format("{},{:g},{},{:.9g},{:.9g},{:.9g}\n", t.optimizer, t.lr, s, t.points[s][0], t.points[s][1],
                         t.losses[s]);
    }
  }
  return out;
}

}  // namespace mnist
