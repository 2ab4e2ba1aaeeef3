#pragma once
// The web lab's engine, without HTTP: the models it predicts with, the runs
// it trains (each a TrainingRun of the run layer, on a thread of its own,
// its events kept for every stream that asks), the comparison folders it
// shows, the mistakes of a model and the trajectories. server.h maps the
// JSON API of docs/web.md onto it; every answer is JSON or bytes, every
// refusal a LabError with the HTTP status it deserves.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/checkpoint.h"
#include "data/dataset.h"
#include "util/error.h"

namespace mnist {

// A request the lab refuses: status 400 (malformed), 404 (unknown), 409
// (wrong state), 413 (too large), 429 (too many runs).
struct LabError : Error {
  LabError(int status_, const std::string& what) : Error(what), status(status_) {}
  int status;
};

struct LabOptions {
  std::string data;                  // what runs train on and Mistakes evaluates on
  std::string runs = "lab";          // runs/<id>/..., compare folders, *.safetensors
  std::string model;                 // the model Draw starts with ("" : none)
  int max_runs = 4;                  // training at once
  int threads = 0;                   // worker threads of each run (0: every core)
  size_t max_upload = 10u << 20;     // bytes of an uploaded image
  int default_train_samples = 10000;
};

class Lab {
 public:
  // Creates the runs folder. Error when it cannot, or when --model cannot
  // be read. The data loads when first needed.
  explicit Lab(LabOptions options);
  ~Lab();  // stops the runs still training and waits for them
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  const LabOptions& options() const { return options_; }
  nlohmann::json info() const;
  nlohmann::json models();
  nlohmann::json predict(const std::string& model, std::string_view image, int top_k);
  nlohmann::json mistakes(const std::string& model, int limit);

  nlohmann::json start_run(const nlohmann::json& request);
  nlohmann::json runs();
  nlohmann::json stop_run(const std::string& id);
  // A run's events (server-sent-event text) from index `from` on, waiting
  // up to `wait` for one when there is none yet; ended once the run's last
  // event has been returned.
  struct Events {
    std::vector<std::string> events;
    bool ended = false;
  };
  Events events(const std::string& id, size_t from, std::chrono::milliseconds wait);

  nlohmann::json experiments();
  nlohmann::json experiment(const std::string& name);
  // A figure or table of a comparison folder, and its content type. 404 for
  // anything else, and for any path that would leave the runs folder.
  std::string experiment_file(const std::string& name, const std::string& file, std::string& content_type);

  std::string trajectories(const std::string& function, const std::string& optimizers, int steps);

 private:
  struct Model;
  struct Run;
  std::shared_ptr<Model> find_model(const std::string& id);
  std::shared_ptr<const DataSplits> data();
  nlohmann::json run_entry(const Run& run) const;
  void train(std::shared_ptr<Run> run);
  void add_event(Run& run, const std::string& type, const nlohmann::json& body);

  LabOptions options_;
  std::mutex mutex_;                  // guards everything below
  std::condition_variable changed_;   // a run has a new event
  std::shared_ptr<const DataSplits> data_;
  std::map<std::string, std::shared_ptr<Model>> models_;
  std::vector<std::shared_ptr<Run>> runs_;
  int next_run_ = 1;
};

}  // namespace mnist
