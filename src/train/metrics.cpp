#include "train/metrics.h"

#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

MetricsLog::MetricsLog(const std::string& path, int resume_epoch, int64_t resume_step) : path_(path) {
  std::string kept;
  const std::string target = output_target(path);
  if (resume_step > 0 && path != "-" && file_exists(target)) {
    std::istringstream lines(read_file(target));
    for (std::string line; std::getline(lines, line);) {
      const json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      // Skip lines cut short by a crash, or not ours.
      if (!record.is_object() || !record.contains("event") || !record["event"].is_string()) continue;
      const bool step = record["event"] == "step";
      const char* key = step ? "step" : "epoch";
      if (!record.contains(key) || !record[key].is_number_integer()) continue;
      const int64_t at = record[key].get<int64_t>();
      if (at < (step ? resume_step : resume_epoch)) kept += line + "\n";
    }
  }
  out_ = std::make_unique<OutputFile>(path, kept, OutputUse::Stream);
}

MetricsLog::~MetricsLog() = default;

void MetricsLog::close() { out_->close(); }

void MetricsLog::write(const std::string& line) { out_->line(line); }

void MetricsLog::step(const StepEvent& e) {
  write(json{{"event", "step"},
             {"step", e.step},
             {"epoch", e.epoch},
             {"batch", e.batch},
             {"loss", e.loss},
             {"lr", e.lr},
             {"seconds", e.seconds}}
            .dump());
}

void MetricsLog::epoch(const EpochEvent& e) {
  write(json{{"event", "epoch"},
             {"epoch", e.epoch},
             {"train_loss", e.train_loss},
             {"accuracy", e.eval.accuracy()},
             {"eval_loss", e.eval.loss},
             {"split", e.eval_split},
             {"lr", e.lr},
             {"images_per_second", e.images_per_second},
             {"seconds", e.seconds}}
            .dump());
}

void MetricsLog::final(const EvalResult& test, int64_t steps, double seconds,
                       std::optional<double> partial_epoch_loss) {
  json record{{"event", "final"}, {"split", "test"},  {"accuracy", test.accuracy()},
              {"eval_loss", test.loss}, {"steps", steps}, {"seconds", seconds}};
  if (partial_epoch_loss) record["train_loss"] = *partial_epoch_loss;
  write(record.dump());
}

std::optional<double> RunRecord::final_train_loss() const {
  if (partial_epoch_loss) return partial_epoch_loss;
  if (!epochs.empty()) return epochs.back().train_loss;
  return std::nullopt;
}

void MetricsLog::diverged(int64_t steps, double loss, double seconds) {
  json record{{"event", "final"}, {"diverged", true}, {"steps", steps}, {"seconds", seconds}};
  record["loss"] = std::isfinite(loss) ? json(loss) : json(nullptr);
  write(record.dump());
}

RunRecord read_run(const std::string& path) {
  RunRecord record;
  std::istringstream lines(read_file(path));
  int number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    if (line.empty()) continue;
    const json r = json::parse(line, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const std::string& why) {
      return Error(fmt::format("{}:{}: not a metrics record ({})", path, number, why));
    };
    if (!r.is_object() || !r.contains("event") || !r["event"].is_string()) throw bad("no \"event\"");
    try {
      const std::string event = r["event"];
      if (event == "step") {
        record.losses.push_back({r.at("step").get<int64_t>(), r.at("loss").get<double>()});
      } else if (event == "epoch") {
        record.epochs.push_back({r.at("epoch").get<int>(), r.at("train_loss").get<double>(),
                                 r.at("accuracy").get<double>(), r.at("eval_loss").get<double>(),
                                 r.at("seconds").get<double>()});
      } else if (event == "final") {
        record.finished = true;
        record.diverged = r.value("diverged", false);
        record.steps = r.at("steps").get<int64_t>();
        record.seconds = r.at("seconds").get<double>();
        if (!record.diverged) {
          record.test_accuracy = r.at("accuracy").get<double>();
          record.test_loss = r.at("eval_loss").get<double>();
          if (r.contains("train_loss")) record.partial_epoch_loss = r.at("train_loss").get<double>();
        }
      } else {
        throw bad("unknown event \"" + event + "\"");
      }
    } catch (const json::exception& e) {
      throw bad(e.what());
    }
  }
  return record;
}

}  // namespace mnist
