// mnist trajectories: optimizers racing on 2-D test functions.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <filesystem>

#include "cli/common.h"
#include "experiments/charts.h"
#include "experiments/trajectories.h"
#include "io/file.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct TrajectoryArgs {
  std::string function = "all", out = "trajectories";
  std::vector<std::string> optimizers = {"sgd", "momentum", "adagrad", "rmsprop", "adam", "nadam", "lion", "prodigy"};
  std::vector<std::string> lrs;
  TrajectoryOptions options;
  bool json = false;
};

// "0.01" for every optimizer, or "adam=0.1" for one.
std::vector<std::pair<std::string, double>> parse_lrs(const std::vector<std::string>& items,
                                                      const std::vector<std::string>& optimizers) {
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& item : items) {
    const auto eq = item.find('=');
    const std::string value = eq == std::string::npos ? item : item.substr(eq + 1);
    double v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || end != value.data() + value.size()) {
      throw UsageError(fmt::format("--lr: '{}' is not a number or NAME=NUMBER", item));
    }
    if (eq == std::string::npos) {
      for (const auto& name : optimizers) out.emplace_back(name, v);
    } else {
      (void)optimizer_row(item.substr(0, eq));
      out.emplace_back(item.substr(0, eq), v);
    }
  }
  return out;
}

int run_trajectories_command(TrajectoryArgs& args) {
  std::vector<const TestFunction*> functions;
  if (args.function == "all") {
    for (const TestFunction& f : test_functions()) functions.push_back(&f);
  } else {
    functions.push_back(&test_function(args.function));
  }
  args.options.lrs = parse_lrs(args.lrs, args.optimizers);
  if (!args.json) plot::require_drivers();
  make_out_folder(args.out);
  for (const TestFunction* f : functions) {
    const auto paths = run_trajectories(*f, args.optimizers, args.options);
    const FunctionGrid grid = function_grid(*f);
    const std::filesystem::path stem = std::filesystem::path(args.out) / f->name;
    write_output(stem.string() + ".json", trajectories_json(*f, grid, paths), OutputUse::File);
    write_output(stem.string() + ".csv", trajectories_csv(paths), OutputUse::File);
    if (args.json) {
      fmt::print("{}\n", trajectories_json(*f, grid, paths));
      continue;
    }
    const std::string subtitle = fmt::format("{} steps from ({:g}, {:g})", args.options.steps, f->start[0], f->start[1]);
    plot::save(trajectories_figure(*f, grid, paths, subtitle), stem.string());
    fmt::print("{}: ", f->name);
    for (const Trajectory& t : paths) {
      fmt::print("{} (lr {:g}) {}{}", t.optimizer, t.lr, t.diverged ? "diverged" : fmt::format("ends at {:.3g}", t.losses.back()),
                 &t == &paths.back() ? "\n" : "; ");
    }
    fmt::print("  wrote {}.png, .svg, .csv, .json\n", stem.string());
  }
  return 0;
}

}  // namespace

Command add_trajectories(CLI::App& app) {
  auto args = std::make_shared<TrajectoryArgs>();
  auto* cmd = app.add_subcommand("trajectories", "Optimizers racing on 2-D test functions: paths and losses");
  cmd->footer(
      "Each optimizer runs from the same start with the same classes as training. Without --lr,\n"
      "each gets the rate of 1, 2, 5 x 10^k that ends lowest without leaving the plot\n"
      "(learning-rate-free ones run at their defaults). Examples:\n"
      "  mnist trajectories\n"
      "  mnist trajectories --function rosenbrock --optimizers sgd,momentum,adam --steps 500\n"
      "  mnist trajectories --function saddle --lr adam=0.05,sgd=0.01 --out saddle");
  std::vector<std::string> names = {"all"};
  for (const TestFunction& f : test_functions()) names.emplace_back(f.name);
  cmd->add_option("--function", args->function, fmt::format("One of {}", fmt::join(names, ", ")))
      ->capture_default_str();
  cmd->add_option("--optimizers", args->optimizers, "Optimizers to run, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--steps", args->options.steps, "Optimizer steps")->capture_default_str();
  cmd->add_option("--lr", args->lrs, "Learning rate for all, or NAME=RATE for one (default: tuned per function)")
      ->delimiter(',');
  cmd->add_option("--out", args->out, "Folder for FUNCTION.png, .svg, .csv, .json")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print each function's result as JSON (docs/web.md) instead of plotting");
  return {cmd, [args] { return run_trajectories_command(*args); }};
}

}  // namespace mnist::cli
