#include "train/metrics.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

using nlohmann::json;

MetricsLog::MetricsLog(const std::string& path, const TrainState& resume_from) : path_(path) {
  check_writable(path);
  std::string kept;
  if (resume_from.step > 0 && file_exists(path)) {
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) {
      const json record = json::parse(line, nullptr, /*allow_exceptions=*/false);
      // Skip lines cut short by a crash, or not ours.
      if (!record.is_object() || !record.contains("event") || !record["event"].is_string()) continue;
      const bool step = record["event"] == "step";
      const char* key = step ? "step" : "epoch";
      if (!record.contains(key) || !record[key].is_number_integer()) continue;
      const int64_t at = record[key].get<int64_t>();
      if (at < (step ? resume_from.step : resume_from.epoch)) kept += line + "\n";
    }
  }
  write_file_atomic(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  if (file_ == nullptr) throw Error(path + ": cannot open for writing: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsLog::close() {
  const bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const int err = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!ok || !closed) throw Error(path_ + ": write failed: " + std::strerror(ok ? errno : err));
}

void MetricsLog::write(const std::string& line) {
  if (std::fputs(line.c_str(), file_) < 0 || std::fputc('\n', file_) == EOF || std::fflush(file_) != 0) {
    throw Error(path_ + ": write failed: " + std::strerror(errno));
  }
}

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

void MetricsLog::final(const EvalResult& test, int64_t steps, double seconds) {
  write(json{{"event", "final"},
             {"split", "test"},
             {"accuracy", test.accuracy()},
             {"eval_loss", test.loss},
             {"steps", steps},
             {"seconds", seconds}}
            .dump());
}

void MetricsLog::diverged(int64_t steps, double loss, double seconds) {
  json record{{"event", "final"}, {"diverged", true}, {"steps", steps}, {"seconds", seconds}};
  record["loss"] = std::isfinite(loss) ? json(loss) : json(nullptr);
  write(record.dump());
}

}  // namespace mnist
