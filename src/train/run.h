#pragma once
// The run layer: the one engine that every front end drives (the CLI's
// train, compare and lr-find, the benchmarks, the tests).
//
// A RunPlan is a plain, resolved description of a run, built and checked
// without any command-line parser: plan_new_run() for a new run,
// plan_resume() to continue a checkpoint. A TrainingRun owns everything the run
// needs (network, optimizer, schedule, thread pool, trainer, metrics log),
// drives it to its end, writes its checkpoints, and reports what happens
// through RunEvents. stop() may be called from any thread; the run stops
// after the step under way, saves and reports on_interrupted.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "checkpoint/checkpoint.h"
#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/config.h"
#include "train/metrics.h"
#include "train/trainer.h"
#include "util/thread_pool.h"

namespace mnist {

struct RunPlan {
  TrainConfig config;     // resolved
  std::string save;       // checkpoint written every checkpoint_every steps, at a stop and at the end ("": none)
  int threads = 0;        // worker threads (0: every core); the results do not depend on it
  int64_t stop_at = 0;    // stop, and save, once this many steps are taken in all (0: run to the end)
  // A new run's first checkpoint keeps the model that save held, if any, as
  // STEM.N.EXT (keep_earlier_version): a trained model is never lost to a
  // rerun. The CLI's train sets it; compare's runs, which resume or skip
  // what their files hold, do not.
  bool keep_existing = false;
  TrainOptions options;   // epoch evaluations, divergence checks
  // Where the run starts: zero for a new run, else the resumed checkpoint's
  // position, its step count, its schedule state and the file as it was read.
  TrainState position;
  int64_t position_step = 0;
  Schedule::PlateauState plateau;
  std::string resumed_from;
  std::shared_ptr<const SavedModel> checkpoint;
  // Resuming a run that has already finished: its test accuracy, as saved.
  // There is nothing left to train; TrainingRun refuses such a plan.
  std::optional<double> finished_accuracy;
};

// A new run of config: resolved and checked (UsageError naming the flag),
// and save, if any, checked writable before any work.
RunPlan plan_new_run(const TrainConfig& config, const std::string& save = "", int threads = 0, int64_t stop_at = 0);

// What a resumed run may change; the rest is as the checkpoint says.
struct ResumeChanges {
  std::optional<std::string> data, metrics, save;  // save defaults to the resumed file
  std::optional<int> log_every;
  std::optional<int64_t> checkpoint_every;
  int threads = 0;
  int64_t stop_at = 0;
};
// Error naming the file when it cannot be resumed.
RunPlan plan_resume(const std::string& checkpoint, const ResumeChanges& changes);
// The same from a checkpoint already read (under MPI, rank 0's bytes).
RunPlan plan_resume(std::shared_ptr<SavedModel> saved, const ResumeChanges& changes);

enum class RunStatus { Finished, Stopped, Diverged };

struct RunResult {
  RunStatus status = RunStatus::Finished;
  int64_t steps = 0;   // optimizer steps taken in all
  TrainState position;
  std::optional<EvalResult> test;  // Finished: the test set's result
  std::string message;             // Diverged: what happened, with the step
  double loss = 0;                 // Diverged: the loss that ended it
  bool checkpoint_kept = false;    // Diverged: plan.save holds the last good checkpoint
};

struct RunEvents {
  std::function<void(const StepEvent&)> on_step;    // every log_every batches
  std::function<void(const StepEvent&)> on_batch;   // after every batch
  std::function<void(const EpochEvent&)> on_epoch;  // after each whole epoch
  std::function<void(const std::string& path)> on_checkpoint;  // a checkpoint was written
  std::function<void(const std::string& path, const std::string& kept)> on_kept;  // path's earlier model is now kept
  std::function<void(const RunResult&)> on_finished;     // after the final checkpoint
  std::function<void(const RunResult&)> on_interrupted;  // stopped (by stop() or stop_at), after saving
  std::function<void(const RunResult&)> on_diverged;
};

class TrainingRun {
 public:
  // Loads the data unless it is given, and builds the network (the
  // resumed checkpoint's, --init's, `weights` when given, or new ones from
  // the seed), the optimizer, the schedule, the pool and the metrics log.
  // Error naming the file for data or weights that do not fit.
  explicit TrainingRun(RunPlan plan, std::shared_ptr<const DataSplits> data = nullptr,
               std::optional<Network<float>> weights = std::nullopt);
  TrainingRun(const TrainingRun&) = delete;
  TrainingRun& operator=(const TrainingRun&) = delete;
  ~TrainingRun();

  // Trains to the end, a stop or a divergence (which is reported, not
  // thrown). Errors writing files are thrown.
  RunResult run(const RunEvents& events = {});
  // Stops after the step under way; under MPI, every process stops after
  // the same step (train/exchange.h).
  void stop();

  const RunPlan& plan() const { return plan_; }
  const TrainConfig& config() const { return plan_.config; }
  const DataSplits& data() const { return *data_; }
  Network<float>& network() { return *network_; }
  Optimizer& optimizer() { return *optimizer_; }
  Schedule& schedule() { return *schedule_; }
  Trainer& trainer() { return *trainer_; }
  ThreadPool& pool() { return *pool_; }
  int64_t steps() const { return optimizer_->steps(); }
  int64_t total_steps() const { return trainer_->total_steps(); }

  // Writes a checkpoint of where the run is: weights, optimizer state,
  // configuration and position. Diverged if the weights are not finite
  // (a good checkpoint is never replaced by a bad one).
  void save(const std::string& path);

 private:
  // Diverged when a weight is not finite.
  void require_finite_weights() const;

  RunPlan plan_;
  std::shared_ptr<const DataSplits> data_;
  std::unique_ptr<Network<float>> network_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<Schedule> schedule_;
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<MetricsLog> metrics_;
  std::atomic<bool> stop_requested_{false};
  std::optional<EvalResult> final_test_;  // once the run has finished: saved with the weights
  bool kept_ = false;                     // keep_existing done (or not needed)
};

// A fingerprint of a data set's test split (its size and labels, which tell
// MNIST from Fashion-MNIST and any other set, whatever its file format):
// checkpoints record it as "data.fingerprint", and eval refuses a model's
// evaluation on a data set with another.
std::string data_fingerprint(const ImageSet& test);

// Data that the caller keeps alive (compare's grid shares one copy).
std::shared_ptr<const DataSplits> borrow(const DataSplits& data);

// A run's data: path's, mapped onto `scaling` when the weights come from a
// file (load_data_for), with the training split cut to its first
// train_samples (0: all; UsageError naming --train-samples past the end).
DataSplits load_run_data(const std::string& path, int train_samples, const InputScaling* scaling = nullptr);

// Loads data and, for course-JSON floats, maps them onto the scaling the
// model expects (a model trained on [0,1] inputs evaluated on [-1,1] data).
DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling, Splits which = Splits::All);

// The test data to evaluate a saved model on: `path`, or when it is empty
// the data set its checkpoint records (config.data). A data set whose test
// split differs from the one the model was trained with (its
// "data.fingerprint") is refused, naming both, unless any_data: a
// Fashion-MNIST model evaluated on MNIST scores 8% and means nothing.
// The data comes mapped onto the model's input scaling (load_data_for).
struct ModelData {
  DataSplits data;
  std::string path;  // where it came from
};
ModelData data_for_model(const SavedModel& saved, const std::string& path, bool any_data,
                         const std::string& fallback);

// Error unless the model takes the data's images: "MODEL: the model takes
// HxW images, DATA has hxw".
void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data);

// New weights of the named model from seed, for the data's image size;
// Error "DATA: HxW images do not fit the MODEL model (...)" if they cannot be.
Network<float> new_network(const std::string& model, uint64_t seed, const DataSplits& data,
                           const std::string& data_path);

}  // namespace mnist
