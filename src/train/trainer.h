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
#include "train/config.h"
#include "train/evaluate.h"
#include "train/exchange.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace mnist {

// Where a run is: the next batch to train is `batch` of `epoch`. The steps
// taken are the optimizer's own count (Optimizer::steps()).
struct TrainState {
  int epoch = 0;
  int batch = 0;
  double epoch_loss_sum = 0;  // sum of this epoch's batch losses so far
  double seconds = 0;         // training time before this session
  int high_loss_steps = 0;    // consecutive steps just taken with a loss above the divergence line
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
constexpr int kDivergedSteps = 20;
constexpr double kDivergedLossFactor = 2;

// Thrown by Trainer::run when training has diverged: the loss is not finite,
// or it has stayed above kDivergedLossFactor * ln(classes) for
// kDivergedSteps steps in a row. ln(classes) is the loss of a network that
// guesses uniformly; twice that, step after step, is a network confidently
// wrong that has stopped learning (SGD at lr 50 sits at 10 to 25). A spike
// that the run recovers from, as Adam's at lr 0.05 (19 at its second step,
// 2.2 at its third), is not divergence. A run shorter than kDivergedSteps
// diverges when its loss stays above the line from its second step to its end.
struct Diverged : Error {
  Diverged(const std::string& what, int64_t step_, double loss_) : Error(what), step(step_), loss(loss_) {}
  int64_t step;
  double loss;
};

// The exponential moving average of the weights (TrainConfig::ema > 0):
// after step t (from 0), average = d average + (1 - d) weights with
// d = min(decay, (1 + t) / (10 + t)) (the warm-up of TensorFlow's
// ExponentialMovingAverage with num_updates), over the parameters and the
// BatchNorm running statistics alike (as PyTorch's AveragedModel with
// use_buffers=True). It starts at the starting weights, and the run
// evaluates, reports and saves it.
struct WeightAverage {
  std::vector<float> params, buffers;
};

// What a run checks and evaluates beyond its arithmetic.
struct TrainOptions {
  bool evaluate_epochs = true;     // evaluate the held-out split at each epoch's end
  bool stop_on_divergence = true;  // throw Diverged (else the caller watches the loss)
  GradientExchange* exchange = nullptr;  // data-parallel across processes (train/exchange.h), or none
};

class Trainer {
 public:
  Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data, const TrainConfig& config,
          ThreadPool& pool, TrainOptions options = {});

  // One optimizer step on the given training samples at learning rate lr;
  // returns their mean loss (measured before the update).
  double step(std::span<const uint32_t> indices, double lr);
  // Trains from state() to the end of the run (its last epoch, or its
  // config.steps), or until should_stop says so, taking each step's learning rate from schedule (and telling it
  // each epoch's held-out loss). Returns true when every epoch is done.
  bool run(Schedule& schedule, const TrainCallbacks& callbacks);

  // Accuracy and loss of the current weights on the test set. The last
  // epoch's evaluation is reused when it was on the test set (IDX data has
  // no validation split) and nothing has trained since.
  EvalResult test_result();

  TrainState& state() { return state_; }
  // The average of --ema, if the run keeps one.
  std::optional<WeightAverage>& average() { return average_; }
  int64_t steps() const { return optimizer_.steps(); }
  int batches_per_epoch() const;
  int64_t total_steps() const { return config_.total_steps(batches_per_epoch()); }

 private:
  Network<float>& network_;
  Optimizer& optimizer_;
  const DataSplits& data_;
  TrainConfig config_;
  ThreadPool& pool_;
  TrainOptions options_;
  TrainState state_;
  int capacity_ = 0;  // the largest batch the buffers hold
  std::optional<EvalResult> test_result_;        // of the current weights, if known
  std::vector<Workspace<float>> workspaces_;     // one per worker
  std::vector<std::vector<float>> chunk_grads_;  // one per chunk
  std::vector<double> chunk_losses_;
  std::vector<float> grad_;
  std::vector<float> inputs_;
  std::vector<uint8_t> labels_;
  std::span<const uint32_t> batch_;   // the samples of the step being taken
  bool batch_gathered_ = false;       // ... already in inputs_ and labels_
  uint64_t step_seed_ = 0;            // its dropout and augmentation
  std::vector<std::vector<float>> augment_scratch_;  // one per worker: its chunk before augmentation
  std::vector<float> dlogits_;

  std::vector<float> training_point_;  // held while an averaging optimizer's average is evaluated
  std::optional<WeightAverage> average_;

  // The batch's mean loss and its gradient in grad_ (clipped), at the
  // current weights, for the n samples of batch_: each chunk gathers (and
  // augments) its own samples, and updates the running statistics.
  double gradient(int n);
  // Samples [begin, end) of batch_ into inputs_ and labels_, augmented if
  // the run says so, on worker thread `worker`.
  void gather_chunk(int begin, int end, int worker);
  // The accuracy and loss of the weights the run reports: the optimizer's
  // average for one that averages its iterates, else the current weights.
  EvalResult evaluate_weights(const ImageSet& images);
  // Evaluates after put() has set other weights in the network; restore()
  // puts the training weights back, also when the evaluation throws.
  EvalResult evaluate_in_place_of_weights(const ImageSet& images, const std::function<void()>& put,
                                          const std::function<void()>& restore);
};

}  // namespace mnist
