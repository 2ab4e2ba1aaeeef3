#pragma once
// Optimizers update the flat parameter block from the flat gradient block.
// Their state (moments, accumulators) is held in buffers parallel to the
// parameter block, so a step is a flat loop and a checkpoint names each
// buffer's views like the parameters ("exp_avg" of "conv1.weight").
//
// Each optimizer is one class (its algorithm in a comment beside it, in
// optim/<name>.h) and one row of the registry (optim/registry.cpp): its
// name, default learning rate, hyperparameters and factory. Weight decay,
// the bias exemption and gradient clipping are shared passes (optim/passes.h)
// that the base class applies as PyTorch does, before the update.
// docs/design.md, "Adding an optimizer", says what a new one takes.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "optim/hyper.h"
#include "util/param_tensor.h"

namespace mnist {

// An optimizer's name and hyperparameters. Unset values take the row's
// defaults (resolved()).
struct OptimizerConfig {
  std::string name = "sgd";
  std::optional<double> lr;
  HyperValues hypers;       // by key: "momentum", "beta1", "weight_decay", ...
  bool decay_biases = true;  // when false, tensors that are biases get no weight decay

  double get(const std::string& key) const { return hypers.number(key); }
  bool on(const std::string& key) const { return hypers.on(key); }
  void set(const std::string& key, double v) { hypers.set(key, v); }

  // Every value that applies to this optimizer, defaults filled in.
  // Throws UsageError for an unknown name, an invalid value, or a
  // hyperparameter that does not apply to this optimizer (naming the flag).
  OptimizerConfig resolved() const;
};

struct StateBuffer {
  std::string name;          // "exp_avg"
  std::vector<float>* data;  // parallel to the parameter block
};

// How a row's weight_decay is applied, by the base class, before update().
enum class WeightDecay {
  None,       // the optimizer has no weight decay
  L2,         // g = g + wd * p        (torch.optim's weight_decay)
  Decoupled,  // p = p * (1 - lr * wd) (AdamW's)
};

// Recomputes the loss and the gradient at the current parameters, on the
// same batch, into the gradient block the optimizer was given (PyTorch's
// closure). Optimizers that search along a direction (LBFGS) call it.
using Reevaluate = std::function<double()>;

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors);
  virtual ~Optimizer() = default;

  const OptimizerConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const std::string& name() const { return config_.name; }
  // One update with learning rate lr; grads are not modified by the
  // optimizer (only by reevaluate, where an optimizer calls it).
  void step(std::span<float> params, std::span<const float> grads, double lr, const Reevaluate* reevaluate = nullptr);
  // Optimizer steps taken so far (PyTorch's per-parameter 'step').
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  // The named state buffers, for checkpoints.
  virtual std::vector<StateBuffer> state_buffers() = 0;

 protected:
  // Updates params[begin, end) of one tensor from grads, after the shared
  // weight-decay pass; steps_ is the number of steps before this one.
  virtual void update(float* params, const float* grads, size_t begin, size_t end, double lr) = 0;
  std::vector<float> zeros() const { return std::vector<float>(size_, 0.0f); }

  OptimizerConfig config_;
  std::vector<ParamTensor> tensors_;
  size_t size_ = 0;
  int64_t steps_ = 0;

 private:
  WeightDecay decay_;           // the row's, looked up once
  std::vector<float> decayed_;  // the gradient with L2 weight decay added
};

// One registry row.
struct OptimizerRow {
  const char* name;     // the CLI name, lower case
  const char* summary;  // one line for --help
  double lr;            // the default learning rate
  WeightDecay decay;
  std::vector<Hyper> hypers;    // weight_decay among them unless decay is None
  bool compared_by_default;     // in `mnist compare`'s default --optimizers
  void (*check)(const OptimizerConfig&);  // rules across hyperparameters, or null
  std::unique_ptr<Optimizer> (*make)(const OptimizerConfig&, std::vector<ParamTensor>);
};

const std::vector<OptimizerRow>& optimizer_registry();
// The row of a name; UsageError "--optimizer: unknown optimizer 'x' (choose ...)".
const OptimizerRow& optimizer_row(const std::string& name);
std::vector<std::string> optimizer_names();

// config is resolved and validated first (UsageError on a bad value).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamTensor>& tensors);

template <class T>
std::unique_ptr<Optimizer> make_as(const OptimizerConfig& c, std::vector<ParamTensor> t) {
  return std::make_unique<T>(c, std::move(t));
}

}  // namespace mnist
