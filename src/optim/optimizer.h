#pragma once
// Optimizers update the flat parameter block from the flat gradient block.
// Their state (moments, accumulators) is held in buffers parallel to the
// parameter block, so a step is a flat loop and a checkpoint names each
// buffer's views like the parameters ("exp_avg" of "conv1.weight").
//
// The update rules are PyTorch's (torch.optim, 1.13 and later), written in
// the same order of operations so results agree to float rounding; each
// class below states its algorithm. docs/optimizers.md explains them.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "nn/network.h"

namespace mnist {

// Hyperparameters. Unset values take the optimizer's default (resolved()).
struct OptimizerConfig {
  std::string name = "sgd";
  std::optional<double> lr;
  std::optional<double> weight_decay;  // L2 added to the gradient; decoupled for adamw
  // sgd, momentum, rmsprop
  std::optional<double> momentum;
  // sgd, momentum
  std::optional<double> dampening;
  bool nesterov = false;
  // adagrad
  std::optional<double> lr_decay, initial_accumulator;
  // rmsprop
  std::optional<double> alpha;
  bool centered = false;
  // adadelta
  std::optional<double> rho;
  // adam, adamw
  std::optional<double> beta1, beta2;
  bool amsgrad = false;
  // adagrad, rmsprop, adadelta, adam, adamw
  std::optional<double> eps;
  // When false, tensors that are biases get no weight decay.
  bool decay_biases = true;

  // Every value that applies to this optimizer, defaults filled in.
  // Throws UsageError for an unknown name, an invalid value, or a flag that
  // does not apply to this optimizer (naming the flag).
  OptimizerConfig resolved() const;
};

const std::vector<std::string>& optimizer_names();

struct StateBuffer {
  std::string name;          // "exp_avg"
  std::vector<float>* data;  // parallel to the parameter block
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors);
  virtual ~Optimizer() = default;

  const OptimizerConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const std::string& name() const { return config_.name; }
  // One update with learning rate lr; grads are not modified.
  void step(std::span<float> params, std::span<const float> grads, double lr);
  // Optimizer steps taken so far (PyTorch's per-parameter 'step').
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  // The named state buffers, for checkpoints.
  virtual std::vector<StateBuffer> state_buffers() = 0;

 protected:
  // Updates params[begin, end) with weight decay wd; steps_ is the number of
  // steps before this one.
  virtual void update(float* params, const float* grads, size_t begin, size_t end, double lr,
                      double wd) = 0;
  std::vector<float> zeros() const { return std::vector<float>(size_, 0.0f); }

  OptimizerConfig config_;
  std::vector<ParamTensor> tensors_;
  size_t size_ = 0;
  int64_t steps_ = 0;
};

// config is resolved and validated first (UsageError on a bad value).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const std::vector<ParamTensor>& tensors);

}  // namespace mnist
