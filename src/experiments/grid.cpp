#include "experiments/grid.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace mnist {

using nlohmann::json;

std::string run_name(const std::string& optimizer, double lr, uint64_t seed) {
  return fmt::format("{}_lr{:g}_seed{}", optimizer, lr, seed);
}

std::string run_path(const std::string& out_dir, const RunSpec& run) {
  return (std::filesystem::path(out_dir) / "runs" / (run.name + ".jsonl")).string();
}

std::vector<RunSpec> plan_grid(const CompareSpec& spec) {
  if (spec.optimizers.empty()) {
    throw UsageError(
        fmt::format("--optimizers: the list is empty; give one or more of {}", fmt::join(optimizer_names(), ", ")));
  }
  for (size_t i = 0; i < spec.optimizers.size(); ++i) {
    const std::string& name = spec.optimizers[i];
    const auto& known = optimizer_names();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw UsageError(
          fmt::format("--optimizers: unknown optimizer '{}' (choose from {})", name, fmt::join(known, ", ")));
    }
    if (std::find(spec.optimizers.begin(), spec.optimizers.begin() + i, name) != spec.optimizers.begin() + i) {
      throw UsageError(fmt::format("--optimizers: '{}' is listed twice", name));
    }
  }
  for (size_t i = 0; i < spec.lrs.size(); ++i) {
    const double lr = spec.lrs[i];
    if (!(std::isfinite(lr) && lr > 0)) {
      throw UsageError(fmt::format("--lrs: a learning rate must be a finite number > 0, got {}", lr));
    }
    if (std::find(spec.lrs.begin(), spec.lrs.begin() + i, lr) != spec.lrs.begin() + i) {
      throw UsageError(fmt::format("--lrs: {:g} is listed twice", lr));
    }
  }
  if (spec.lrs.size() > 12) {
    throw UsageError(fmt::format("--lrs: at most 12 learning rates (each gets a plot panel), got {}", spec.lrs.size()));
  }
  for (size_t i = 0; i < spec.lrs.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (fmt::format("{:g}", spec.lrs[i]) == fmt::format("{:g}", spec.lrs[j])) {
        throw UsageError(
            fmt::format("--lrs: {} and {} look the same to 6 significant digits ({:g}), which names runs "
                        "and table rows; give rates that differ there",
                        spec.lrs[j], spec.lrs[i], spec.lrs[i]));
      }
    }
  }
  if (spec.seeds < 1 || spec.seeds > 1000) {
    throw UsageError(fmt::format("--seeds: must be between 1 and 1000, got {}", spec.seeds));
  }
  if (!(std::isfinite(spec.loss_threshold) && spec.loss_threshold > 0)) {
    throw UsageError(fmt::format("--loss-threshold: must be a finite number > 0, got {}", spec.loss_threshold));
  }
  std::vector<RunSpec> runs;
  for (const std::string& optimizer : spec.optimizers) {
    std::vector<std::optional<double>> lrs(spec.lrs.begin(), spec.lrs.end());
    if (lrs.empty()) lrs.emplace_back();  // the optimizer's default
    for (const auto& lr : lrs) {
      for (int s = 0; s < spec.seeds; ++s) {
        TrainConfig config = spec.base;
        config.optimizer.name = optimizer;
        config.optimizer.lr = lr;
        config.seed = spec.first_seed + static_cast<uint64_t>(s);
        config.metrics.clear();
        config.checkpoint_every = 0;
        config = config.resolved();
        RunSpec run;
        run.optimizer = optimizer;
        run.lr = *config.optimizer.lr;
        run.seed = config.seed;
        run.name = run_name(optimizer, run.lr, run.seed);
        run.config = std::move(config);
        runs.push_back(std::move(run));
      }
    }
  }
  return runs;
}

std::vector<std::string> settings_differences(const std::string& before, const std::string& now) {
  std::vector<std::string> out;
  const json a = json::parse(before, nullptr, false), b = json::parse(now, nullptr, false);
  if (a.is_discarded() || !a.is_object()) return {"compare.json is not a settings file"};
  for (const auto& [key, value] : b.items()) {
    if (!a.contains(key)) {
      out.push_back(fmt::format("{} (not recorded before, now {})", key, value.dump()));
    } else if (a[key] != value) {
      if (value.is_object() && a[key].is_object()) {
        for (const auto& [inner, v] : value.items()) {
          const json old = a[key].contains(inner) ? a[key][inner] : json();
          if (old != v) out.push_back(fmt::format("{}.{} ({} before, {} now)", key, inner, old.dump(), v.dump()));
        }
      } else {
        out.push_back(fmt::format("{} ({} before, {} now)", key, a[key].dump(), value.dump()));
      }
    }
  }
  return out;
}

std::string grid_settings_json(const CompareSpec& spec) {
  TrainConfig c = spec.base;
  c.optimizer.name.clear();
  c.optimizer.lr.reset();
  c.seed = 0;
  c.metrics.clear();
  c.checkpoint_every = 0;
  json j = json::parse(c.to_json());
  j["optimizer"].erase("name");
  j.erase("seed");
  j.erase("metrics");
  j.erase("checkpoint_every");
  std::error_code ec;
  const auto canonical = std::filesystem::weakly_canonical(spec.base.data, ec);
  if (!ec) j["data"] = canonical.string();
  j["train_samples"] = spec.train_samples;
  return j.dump(2) + "\n";
}

}  // namespace mnist
