#include "train/config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <nlohmann/json.hpp>

#include "data/dataset.h"
#include "nn/models.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

void check_schedule_use(const std::string& optimizer, const ScheduleConfig& schedule) {
  const ScheduleUse use = optimizer_row(optimizer).schedules;
  if (use == ScheduleUse::WarmupOnly && schedule.name != "constant" && schedule.name != "exp-range") {
    throw UsageError(fmt::format("--schedule {}: {} is schedule-free (it averages its iterates instead of decaying "
                                 "the rate); use --schedule constant, with --warmup-steps if you want a warm-up",
                                 schedule.name, optimizer));
  }
  if (use == ScheduleUse::None && (schedule.name != "constant" || schedule.warmup_steps > 0)) {
    throw UsageError(fmt::format("--schedule {}: {} sets each weight's step size itself, and its --lr only gives "
                                 "the first one; it takes no schedule or warm-up",
                                 schedule.warmup_steps > 0 && schedule.name == "constant" ? "constant --warmup-steps"
                                                                                           : schedule.name,
                                 optimizer));
  }
}

TrainConfig TrainConfig::resolved() const {
  TrainConfig c = *this;
  c.optimizer = optimizer.resolved();
  c.schedule = schedule.resolved(*c.optimizer.lr);
  check_schedule_use(c.optimizer.name, c.schedule);
  find_model(model);  // UsageError for an unknown one
  if (seed > kMaxSeed) {
    throw UsageError(fmt::format("--seed: must be at most 2^53 = {}, so that files record it exactly; got {}", kMaxSeed, seed));
  }
  if (epochs < 1) throw UsageError(fmt::format("--epochs: must be at least 1, got {}", epochs));
  if (steps < 0) throw UsageError(fmt::format("--steps: must be >= 0, got {}", steps));
  if (batch_size < 1 || batch_size > (1 << 20)) {
    throw UsageError(fmt::format("--batch-size: must be between 1 and 1048576, got {}", batch_size));
  }
  if (train_samples < 0) {
    throw UsageError(fmt::format("--train-samples: must be 0 (all) or a count, got {}", train_samples));
  }
  if (log_every < 1) throw UsageError(fmt::format("--log-every: must be at least 1, got {}", log_every));
  if (checkpoint_every < 0) {
    throw UsageError(fmt::format("--checkpoint-every: must be >= 0, got {}", checkpoint_every));
  }
  if (!(augment.rotate >= 0 && augment.rotate <= 180)) {
    throw UsageError(fmt::format("--rotate: must be between 0 and 180 degrees, got {}", augment.rotate));
  }
  if (!(augment.zoom >= 0 && augment.zoom < 1)) {
    throw UsageError(fmt::format("--zoom: must be at least 0 and below 1, got {}", augment.zoom));
  }
  if (!(augment.shift >= 0 && augment.shift <= 64)) {
    throw UsageError(fmt::format("--shift: must be between 0 and 64 pixels, got {}", augment.shift));
  }
  if (augment.cutout < 0 || augment.cutout > 64) {
    throw UsageError(fmt::format("--cutout: must be between 0 and 64 pixels, got {}", augment.cutout));
  }
  if (!(label_smoothing >= 0 && label_smoothing < 1)) {
    throw UsageError(fmt::format("--label-smoothing: must be at least 0 and below 1, got {}", label_smoothing));
  }
  if (!(ema >= 0 && ema < 1)) throw UsageError(fmt::format("--ema: must be at least 0 and below 1, got {}", ema));
  if (dropout) {
    if (!(*dropout >= 0 && *dropout < 1)) {
      throw UsageError(fmt::format("--dropout: must be at least 0 and below 1, got {}", *dropout));
    }
    const auto layers = find_model(model).layers(kNumClasses);
    if (std::none_of(layers.begin(), layers.end(),
                     [](const LayerSpec& l) { return l.kind == LayerSpec::Kind::Dropout; })) {
      throw UsageError(fmt::format("--dropout: model {} has no dropout layer", model));
    }
  }
  if (clip_norm && !(std::isfinite(*clip_norm) && *clip_norm > 0)) {
    throw UsageError(fmt::format("--clip-norm: must be a finite number > 0, got {}", *clip_norm));
  }
  return c;
}

int64_t TrainConfig::total_steps(int batches_per_epoch) const {
  return steps > 0 ? steps : static_cast<int64_t>(epochs) * batches_per_epoch;
}

int TrainConfig::epochs_touched(int batches_per_epoch) const {
  if (steps <= 0) return epochs;
  return static_cast<int>((steps + batches_per_epoch - 1) / std::max(1, batches_per_epoch));
}

namespace {

// The optimizer and the schedule: their names, then the hyperparameters
// their registry rows list.
json optimizer_json(const OptimizerConfig& o) {
  json j = {{"name", o.name}, {"decay_biases", o.decay_biases}};
  if (o.lr) j["lr"] = *o.lr;
  if (const OptimizerRow* row = find_row(optimizer_registry(), o.name)) {
    hypers_to_json(o.hypers, row->hypers, j);
  } else {  // a comparison's shared settings have no name
    for (const auto& [key, v] : o.hypers.all()) j[key] = v.size() == 1 ? json(v[0]) : json(v);
  }
  return j;
}

OptimizerConfig optimizer_from(const json& j) {
  OptimizerConfig o;
  o.name = j.at("name").get<std::string>();
  o.decay_biases = j.at("decay_biases").get<bool>();
  if (j.contains("lr")) o.lr = j.at("lr").get<double>();
  const OptimizerRow* row = find_row(optimizer_registry(), o.name);
  if (row == nullptr) throw Error(fmt::format("unknown optimizer '{}'", o.name));
  o.hypers = hypers_from_json(j, row->hypers, {"name", "decay_biases", "lr"});
  return o;
}

json schedule_json(const ScheduleConfig& s) {
  json j = {{"name", s.name}, {"warmup_steps", s.warmup_steps}};
  if (const ScheduleRow* row = find_row(schedule_registry(), s.name)) hypers_to_json(s.hypers, row->hypers, j);
  return j;
}

ScheduleConfig schedule_from(const json& j) {
  ScheduleConfig s;
  s.name = j.at("name").get<std::string>();
  s.warmup_steps = j.at("warmup_steps").get<int>();
  const ScheduleRow* row = find_row(schedule_registry(), s.name);
  if (row == nullptr) throw Error(fmt::format("unknown schedule '{}'", s.name));
  s.hypers = hypers_from_json(j, row->hypers, {"name", "warmup_steps"});
  return s;
}

// One row per field: its key, how to write it and how to read it. A field
// with a fallback may be absent from older files.
struct Field {
  const char* key;
  std::function<json(const TrainConfig&)> put;
  std::function<void(TrainConfig&, const json&)> get;
  bool optional = false;  // absent when unset, and may be absent when read
};

template <class T>
Field plain(const char* key, T TrainConfig::*member, bool optional = false) {
  return {key, [member](const TrainConfig& c) { return json(c.*member); },
          [member](TrainConfig& c, const json& j) { c.*member = j.get<T>(); }, optional};
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      plain("model", &TrainConfig::model),
      {"optimizer", [](const TrainConfig& c) { return optimizer_json(c.optimizer); },
       [](TrainConfig& c, const json& j) { c.optimizer = optimizer_from(j); }},
      {"schedule", [](const TrainConfig& c) { return schedule_json(c.schedule); },
       [](TrainConfig& c, const json& j) { c.schedule = schedule_from(j); }},
      plain("epochs", &TrainConfig::epochs),
      plain("steps", &TrainConfig::steps, /*optional=*/true),
      plain("batch_size", &TrainConfig::batch_size),
      plain("train_samples", &TrainConfig::train_samples, /*optional=*/true),
      plain("seed", &TrainConfig::seed),
      plain("shuffle", &TrainConfig::shuffle),
      {"clip_norm", [](const TrainConfig& c) { return c.clip_norm ? json(*c.clip_norm) : json(); },
       [](TrainConfig& c, const json& j) { c.clip_norm = j.get<double>(); }, true},
      {"augment",
       [](const TrainConfig& c) {
         return c.augment.any() ? json{{"rotate", c.augment.rotate}, {"zoom", c.augment.zoom},
                                       {"shift", c.augment.shift}, {"flip", c.augment.flip},
                                       {"cutout", c.augment.cutout}}
                                : json();
       },
       [](TrainConfig& c, const json& j) {
         c.augment = {j.at("rotate").get<double>(), j.at("zoom").get<double>(), j.at("shift").get<double>(),
                      j.value("flip", false), j.value("cutout", 0)};
       },
       true},
      {"label_smoothing", [](const TrainConfig& c) { return c.label_smoothing != 0 ? json(c.label_smoothing) : json(); },
       [](TrainConfig& c, const json& j) { c.label_smoothing = j.get<double>(); }, true},
      {"ema", [](const TrainConfig& c) { return c.ema != 0 ? json(c.ema) : json(); },
       [](TrainConfig& c, const json& j) { c.ema = j.get<double>(); }, true},
      {"dropout", [](const TrainConfig& c) { return c.dropout ? json(*c.dropout) : json(); },
       [](TrainConfig& c, const json& j) { c.dropout = j.get<double>(); }, true},
      plain("data", &TrainConfig::data),
      plain("init", &TrainConfig::init),
      plain("log_every", &TrainConfig::log_every),
      plain("checkpoint_every", &TrainConfig::checkpoint_every),
      plain("metrics", &TrainConfig::metrics),
  };
  return table;
}

}  // namespace

std::string TrainConfig::to_json() const {
  json j = json::object();
  for (const Field& f : fields()) {
    json v = f.put(*this);
    // Optional fields are left out when unset (steps when 0), so files
    // written before they existed compare equal.
    if (f.optional && (v.is_null() || (v.is_number_integer() && v.get<int64_t>() == 0))) continue;
    j[f.key] = std::move(v);
  }
  return j.dump();
}

TrainConfig TrainConfig::from_json(const std::string& text) {
  try {
    const json j = json::parse(text);
    TrainConfig c;
    for (const Field& f : fields()) {
      if (f.optional && !j.contains(f.key)) continue;
      f.get(c, j.at(f.key));
    }
    return c;
  } catch (const json::exception& e) {
    throw Error(std::string("the training configuration is malformed (") + e.what() + ")");
  } catch (const Error& e) {
    throw Error(std::string("the training configuration is malformed (") + e.what() + ")");
  }
}

}  // namespace mnist
