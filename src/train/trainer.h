#pragma once
// The training loop: zero_grad -> forward -> loss -> backward -> (clip) ->
// step, over mini-batches, with each batch split across worker threads.
//
// Reproducibility: each batch is cut into kGradChunks fixed chunks whose
// gradients are computed separately and summed in chunk order, so the result
// is bit-identical whatever the number of threads. Everything a run depends
// on is in TrainConfig and TrainState, so a checkpoint of the two (with the
// weights and the optimizer's buffers) resumes bit-identically.
#include <functional>
#include <optional>
#include <string>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/evaluate.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace mnist {

// What determines the arithmetic of a run (saved in checkpoints, and fixed
// when a run is resumed), and the run's logging and saving options.
struct TrainConfig {
  std::string model = "cnn";
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int epochs = 5;
  int batch_size = 100;
  uint64_t seed = 0;
  bool shuffle = true;
  std::optional<double> clip_norm;  // clip the gradient's global L2 norm
  std::string data;                 // where the data came from
  std::string init;                 // weights the run started from, if not random
  // Not part of the arithmetic.
  int log_every = 200;
  int64_t checkpoint_every = 0;  // 0: only at the end
  std::string metrics;           // JSONL file, if any

  // Optimizer and schedule defaults filled in; UsageError naming the flag.
  TrainConfig resolved() const;
  std::string to_json() const;
  static TrainConfig from_json(const std::string& json);  // Error if malformed
};

// Where a run is: the next batch to train is `batch` of `epoch`.
struct TrainState {
  int epoch = 0;
  int batch = 0;
  int64_t step = 0;           // optimizer steps taken
  double epoch_loss_sum = 0;  // sum of this epoch's batch losses so far
  double seconds = 0;         // training time before this session
};

struct StepEvent {
  int epoch, batch, batches;  // batch of batches in this epoch
  int64_t step;               // optimizer steps before this one
  double loss, lr, seconds;   // this batch's loss (before the update), its lr
};

struct EpochEvent {
  int epoch;
  double train_loss;       // mean over the epoch's batches
  EvalResult eval;         // on valid if the data has it, else on test
  std::string eval_split;  // "valid" or "test"
  double lr;               // the learning rate at the epoch's last step
  double images_per_second, seconds;
};

struct TrainCallbacks {
  std::function<void(const StepEvent&)> on_step;    // every log_every batches
  std::function<void(const StepEvent&)> on_batch;   // after every batch
  std::function<void(const EpochEvent&)> on_epoch;  // after each epoch (state already advanced)
  std::function<bool()> should_stop;                // asked after every step
};

constexpr int kGradChunks = 8;

// Thrown by Trainer::run when training has diverged: the loss is not finite,
// or it exceeds 10 ln(classes) (the true class below 1e-10 probability on
// average, far above the ln(classes) of an untrained network).
struct Diverged : Error {
  Diverged(const std::string& what, int64_t step_, double loss_) : Error(what), step(step_), loss(loss_) {}
  int64_t step;
  double loss;
};

int resolve_threads(int requested);

class Trainer {
 public:
  Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data, const TrainConfig& config,
          ThreadPool& pool);

  // One optimizer step on the given training samples at learning rate lr;
  // returns their mean loss (measured before the update).
  double step(std::span<const uint32_t> indices, double lr);
  // Trains from state() to the end of the last epoch, or until should_stop
  // says so, taking each step's learning rate from schedule (and telling it
  // each epoch's held-out loss). Returns true when every epoch is done.
  bool run(Schedule& schedule, const TrainCallbacks& callbacks);

  // Accuracy and loss of the current weights on the test set. The last
  // epoch's evaluation is reused when it was on the test set (IDX data has
  // no validation split) and nothing has trained since.
  EvalResult test_result();

  TrainState& state() { return state_; }
  int batches_per_epoch() const;

 private:
  Network<float>& network_;
  Optimizer& optimizer_;
  const DataSplits& data_;
  TrainConfig config_;
  ThreadPool& pool_;
  TrainState state_;
  std::optional<EvalResult> test_result_;        // of the current weights, if known
  std::vector<Workspace<float>> workspaces_;     // one per worker
  std::vector<std::vector<float>> chunk_grads_;  // one per chunk
  std::vector<double> chunk_losses_;
  std::vector<float> grad_;
  std::vector<float> inputs_;
  std::vector<uint8_t> labels_;
  std::vector<float> dlogits_;
};

}  // namespace mnist
