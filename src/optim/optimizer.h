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
// that TensorwiseOptimizer applies as PyTorch does, before the update.
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
  // Element i of a tuple (betas, etas).
  double get(const std::string& key, size_t i) const { return hypers.values(key).at(i); }
  bool on(const std::string& key) const { return hypers.on(key); }
  void set(const std::string& key, double v) { hypers.set(key, v); }

  // Every value that applies to this optimizer, defaults filled in.
  // Throws UsageError for an unknown name, an invalid value, or a
  // hyperparameter that does not apply to this optimizer (naming the flag).
  OptimizerConfig resolved() const;
};

// A buffer of optimizer state, for checkpoints. Most are parallel to the
// parameter block and saved per tensor ("optim.exp_avg.conv1.weight");
// others (LBFGS's history, Adafactor's factored moments) are blocks of their
// own, saved whole ("optim.old_dirs"). A resizable one takes the saved
// size when restored (LBFGS's history grows); the others must match it.
struct StateBuffer {
  std::string name;          // "exp_avg"
  std::vector<float>* data;
  bool parallel = true;
  bool resizable = false;
};

// A number of optimizer state that is not per weight (Prodigy's d, ASGD's
// eta, LBFGS's step length), saved exactly in the checkpoint's metadata.
struct StateScalar {
  std::string name;
  double* value;
};

// How a row's weight_decay is applied.
enum class WeightDecay {
  None,       // the optimizer has no weight decay
  L2,         // g = g + wd * p        (torch.optim's weight_decay), by the base class before update()
  Decoupled,  // p = p * (1 - lr * wd) (AdamW's), by the base class before update()
  Own,        // the optimizer applies it in its own way (with decay_of() for the bias exemption)
};

// How a row's learning rate takes a schedule.
enum class ScheduleUse {
  Any,         // any schedule multiplies the learning rate
  WarmupOnly,  // schedule-free: only a constant rate, with --warmup-steps
  None,        // the learning rate only sets the first step (Rprop): no schedule
};

// PyTorch's closure, for optimizers that evaluate the batch again (LBFGS):
// the loss where the step starts (the caller has computed it, with the
// gradient), and a function that recomputes the loss and the gradient, into
// the gradient block the optimizer was given, at the current parameters.
struct Closure {
  double loss = 0;
  std::function<double()> reevaluate;
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors);
  virtual ~Optimizer() = default;

  const OptimizerConfig& config() const { return config_; }
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  const std::string& name() const { return config_.name; }
  size_t size() const { return size_; }
  // One update with learning rate lr. grads are not modified by the
  // optimizer; the closure's reevaluate, which LBFGS calls, rewrites them.
  void step(std::span<float> params, std::span<const float> grads, double lr, const Closure* closure = nullptr);
  // Optimizer steps taken so far (PyTorch's per-parameter 'step').
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  // The named state, for checkpoints.
  virtual std::vector<StateBuffer> state_buffers() = 0;
  virtual std::vector<StateScalar> state_scalars() { return {}; }

  // Optimizers that average their iterates (schedule-free, DoG, ASGD)
  // train at one point and are evaluated and saved at another: the
  // average. eval_point writes it (params when there is none).
  virtual bool has_eval_point() const { return false; }
  virtual void eval_point(std::span<const float> params, std::span<float> out) const;

 protected:
  // The whole update of one step; steps_ is the number of steps before it.
  virtual void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure* closure) = 0;
  // The weight decay of a tensor: weight_decay, or 0 for a bias exempted by
  // --no-decay-bias.
  double decay_of(const ParamTensor& t) const;
  std::vector<float> zeros() const { return std::vector<float>(size_, 0.0f); }

  OptimizerConfig config_;
  std::vector<ParamTensor> tensors_;
  size_t size_ = 0;
  int64_t steps_ = 0;
};

// An optimizer whose update is element-wise within each tensor (SGD, Adam,
// ...): the base class runs the shared weight-decay pass of the row, then
// update() on each tensor's range.
class TensorwiseOptimizer : public Optimizer {
 public:
  TensorwiseOptimizer(const OptimizerConfig& config, std::vector<ParamTensor> tensors);

 protected:
  void apply(std::span<float> params, std::span<const float> grads, double lr, const Closure*) final;
  // Numbers shared by every tensor of the step (NAdam's momentum product,
  // ASGD's averaging rate): worked out before the tensors are updated, and
  // advanced after.
  virtual void begin_step(std::span<const float> /*params*/, double /*lr*/) {}
  virtual void end_step(double /*lr*/) {}
  // Updates params[begin, end) of one tensor from grads (weight decay
  // already applied as the row says).
  virtual void update(float* params, const float* grads, size_t begin, size_t end, double lr) = 0;
  // The tensor update() is working on.
  const ParamTensor& current_tensor() const { return *current_; }

 private:
  const ParamTensor* current_ = nullptr;
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
  // Learning-rate-free optimizers: the key a sweep of "learning rates" sets,
  // the method's own multiplier ("d_coef" for Prodigy, "lr" for DoG).
  const char* multiplier = nullptr;
  ScheduleUse schedules = ScheduleUse::Any;
};

const std::vector<OptimizerRow>& optimizer_registry();
// The row of a name; UsageError "--optimizer: unknown optimizer 'x' (choose ...)".
const OptimizerRow& optimizer_row(const std::string& name);
std::vector<std::string> optimizer_names();

// What a sweep of learning rates varies (compare, trajectories): the lr,
// or for a learning-rate-free optimizer its multiplier (Prodigy's d_coef;
// DoG's is its lr). The key, its default, and getting and setting it.
std::string swept_key(const std::string& optimizer);
double default_swept_value(const std::string& optimizer);
void set_swept_value(OptimizerConfig& config, double value);
double swept_value(const OptimizerConfig& resolved);

// config is resolved and validated first (UsageError on a bad value).
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, const std::vector<ParamTensor>& tensors);

template <class T>
std::unique_ptr<Optimizer> make_as(const OptimizerConfig& c, std::vector<ParamTensor> t) {
  return std::make_unique<T>(c, std::move(t));
}

}  // namespace mnist
