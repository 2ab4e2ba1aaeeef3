#include "train/resume.h"

#include <fmt/format.h>

#include <cmath>

#include "util/error.h"

namespace mnist {

namespace {

// 17 significant digits: doubles survive the round trip through text.
std::string exact(double v) { return fmt::format("{:.17g}", v); }

}  // namespace

std::map<std::string, std::string> training_metadata(const TrainConfig& config, const TrainState& state,
                                                     int64_t step, const Schedule& schedule) {
  const auto& p = schedule.plateau();
  return {
      {"config", config.to_json()},
      {"train.epoch", std::to_string(state.epoch)},
      {"train.batch", std::to_string(state.batch)},
      {"train.step", std::to_string(step)},
      {"train.epoch_loss_sum", exact(state.epoch_loss_sum)},
      {"train.seconds", exact(state.seconds)},
      {"train.high_loss_steps", std::to_string(state.high_loss_steps)},
      {"schedule.lr", exact(p.lr)},
      {"schedule.best", exact(p.best)},
      {"schedule.bad_epochs", std::to_string(p.bad_epochs)},
      {"schedule.seen", p.seen ? "1" : "0"},
  };
}

ResumePoint read_resume_point(const SavedModel& saved) {
  const auto& meta = saved.metadata;
  auto field = [&](const std::string& key) -> const std::string& {
    const auto it = meta.find(key);
    if (it == meta.end()) {
      throw Error(fmt::format("{}: cannot resume, the checkpoint has no '{}' (it holds weights only)", saved.path, key));
    }
    return it->second;
  };
  auto number = [&](const std::string& key) {
    const std::string& text = field(key);
    try {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used != text.size() || std::isnan(v)) throw std::invalid_argument(key);
      return v;
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: metadata '{}' is not a number: '{}'", saved.path, key, text));
    }
  };
  // A count: a whole number in [0, 2^31).
  auto count = [&](const std::string& key) {
    const double v = number(key);
    if (!(v >= 0 && v < 2147483648.0) || v != std::floor(v)) {
      throw Error(fmt::format("{}: metadata '{}' is not a valid count: '{}'", saved.path, key, field(key)));
    }
    return static_cast<int64_t>(v);
  };
  ResumePoint r;
  try {
    r.config = TrainConfig::from_json(field("config"));
  } catch (const Error& e) {
    throw Error(saved.path + ": " + e.what());
  }
  r.state.epoch = static_cast<int>(count("train.epoch"));
  r.state.batch = static_cast<int>(count("train.batch"));
  r.step = count(meta.count("optim.steps") ? "optim.steps" : "train.step");
  r.state.epoch_loss_sum = number("train.epoch_loss_sum");
  r.state.seconds = number("train.seconds");
  // Written since the divergence rule counts steps; older checkpoints had none above the line.
  if (meta.count("train.high_loss_steps")) r.state.high_loss_steps = static_cast<int>(count("train.high_loss_steps"));
  r.plateau.lr = number("schedule.lr");
  r.plateau.best = number("schedule.best");
  r.plateau.bad_epochs = static_cast<int>(count("schedule.bad_epochs"));
  r.plateau.seen = field("schedule.seen") == "1";
  if (!std::isfinite(r.state.epoch_loss_sum) || !std::isfinite(r.state.seconds) || !std::isfinite(r.plateau.lr)) {
    throw Error(saved.path + ": the saved training state is not finite");
  }
  return r;
}

}  // namespace mnist
