#pragma once
// The training loop: zero_grad -> forward -> loss -> backward -> step, over
// shuffled mini-batches, with the batch split across worker threads.
//
// Reproducibility: each batch is cut into kGradChunks fixed chunks whose
// gradients are computed separately and summed in chunk order, so the result
// is bit-identical whatever the number of threads.
#include <functional>
#include <string>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"
#include "train/evaluate.h"
#include "util/thread_pool.h"

namespace mnist {

struct TrainConfig {
  std::string model = "cnn";
  OptimizerConfig optimizer;
  int epochs = 5;
  int batch_size = 100;
  uint64_t seed = 0;
  int threads = 0;  // 0: all cores
  int log_every = 200;
  bool shuffle = true;

  std::string to_json() const;
  void validate() const;  // throws UsageError naming the flag
};

struct StepEvent {
  int epoch, batch, batches;  // batch of batches in this epoch
  int64_t step;               // optimizer steps before this one
  double loss, lr, seconds;   // this batch's loss (before the update)
};

struct EpochEvent {
  int epoch;
  double train_loss;       // mean over the epoch's batches
  EvalResult eval;         // on valid if the data has it, else on test
  std::string eval_split;  // "valid" or "test"
  double images_per_second, seconds;
};

struct TrainCallbacks {
  std::function<void(const StepEvent&)> on_step;    // every log_every batches
  std::function<void(const StepEvent&)> on_batch;   // after every batch (progress)
  std::function<void(const EpochEvent&)> on_epoch;  // after each epoch
};

constexpr int kGradChunks = 8;

int resolve_threads(int requested);

class Trainer {
 public:
  Trainer(Network<float>& network, Optimizer& optimizer, const DataSplits& data,
          const TrainConfig& config, ThreadPool& pool);

  // One optimizer step on the given training samples; returns their mean loss.
  double step(std::span<const uint32_t> indices);
  // The full run of config.epochs epochs.
  void run(const TrainCallbacks& callbacks);

  std::span<const float> gradient() const { return grad_; }

 private:
  Network<float>& network_;
  Optimizer& optimizer_;
  const DataSplits& data_;
  TrainConfig config_;
  ThreadPool& pool_;
  std::vector<Workspace<float>> workspaces_;       // one per worker
  std::vector<std::vector<float>> chunk_grads_;     // one per chunk
  std::vector<double> chunk_losses_;
  std::vector<float> grad_;
  std::vector<float> inputs_;
  std::vector<uint8_t> labels_;
  std::vector<float> dlogits_;
};

}  // namespace mnist
