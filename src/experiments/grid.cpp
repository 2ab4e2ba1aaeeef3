#include "experiments/grid.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>

#include "util/error.h"

namespace mnist {

using nlohmann::json;

std::string run_name(const std::string& optimizer, const std::string& key, double value, uint64_t seed) {
  return fmt::format("{}_{}{:g}_seed{}", optimizer, key, value, seed);
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
  if (!spec.lrs.empty() && !spec.lr_factors.empty()) {
    throw UsageError("--lr-factors: give either --lrs or --lr-factors, not both");
  }
  const bool factors = !spec.lr_factors.empty();
  const std::vector<double>& values = factors ? spec.lr_factors : spec.lrs;
  const std::string flag = factors ? "--lr-factors" : "--lrs";
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    if (!(std::isfinite(v) && v > 0)) {
      throw UsageError(fmt::format("{}: {} must be a finite number > 0, got {}", flag,
                                   factors ? "a factor" : "a learning rate", v));
    }
    if (std::find(values.begin(), values.begin() + i, v) != values.begin() + i) {
      throw UsageError(fmt::format("{}: {:g} is listed twice", flag, v));
    }
  }
  if (values.size() > 12) {
    throw UsageError(fmt::format("{}: at most 12 values (each gets a plot panel), got {}", flag, values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (fmt::format("{:g}", values[i]) == fmt::format("{:g}", values[j])) {
        throw UsageError(
            fmt::format("{}: {} and {} look the same to 6 significant digits ({:g}), which names runs "
                        "and table rows; give values that differ there",
                        flag, values[j], values[i], values[i]));
      }
    }
  }
  if (spec.first_seed > kMaxSeed - 1000) {
    throw UsageError(fmt::format("--seed: must be at most {}, got {}", kMaxSeed - 1000, spec.first_seed));
  }
  if (spec.seeds < 1 || spec.seeds > 1000) {
    throw UsageError(fmt::format("--seeds: must be between 1 and 1000, got {}", spec.seeds));
  }
  if (!(std::isfinite(spec.loss_threshold) && spec.loss_threshold > 0)) {
    throw UsageError(fmt::format("--loss-threshold: must be a finite number > 0, got {}", spec.loss_threshold));
  }
  std::vector<RunSpec> runs;
  for (const std::string& optimizer : spec.optimizers) {
    // The values this optimizer's sweep takes (none: its default).
    std::vector<std::optional<double>> swept;
    for (double v : values) swept.emplace_back(factors ? v * default_swept_value(optimizer) : v);
    if (swept.empty()) swept.emplace_back();
    for (size_t k = 0; k < swept.size(); ++k) {
      const std::optional<double>& value = swept[k];
      for (int s = 0; s < spec.seeds; ++s) {
        TrainConfig config = spec.base;
        config.optimizer.name = optimizer;
        config.optimizer.lr.reset();
        if (value) set_swept_value(config.optimizer, *value);
        config.seed = spec.first_seed + static_cast<uint64_t>(s);
        config.metrics.clear();
        config.checkpoint_every = 0;
        config = config.resolved();
        RunSpec run;
        run.optimizer = optimizer;
        run.lr = swept_value(config.optimizer);
        run.factor = factors ? values[k] : 0;
        run.seed = config.seed;
        run.name = run_name(optimizer, swept_key(optimizer), run.lr, run.seed);
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
