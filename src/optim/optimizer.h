#pragma once
// Optimizers update the flat parameter block from the flat gradient block.
// Their state (moments, accumulators) is held in buffers parallel to the
// parameter block, so a step is a flat loop and a checkpoint names each
// buffer's views like the parameters ("momentum_buffer" of "conv1.weight").
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "nn/network.h"

namespace mnist {

struct OptimizerConfig {
  std::string name = "sgd";
  double lr = 0.01;
  // SGD (torch.optim.SGD)
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;  // L2 penalty added to the gradient
};

// Throws UsageError naming the flag when a hyperparameter is invalid.
void validate(const OptimizerConfig& config);
const std::vector<std::string>& optimizer_names();

struct StateBuffer {
  std::string name;          // "momentum_buffer"
  std::vector<float>* data;  // parallel to the parameter block
};

class Optimizer {
 public:
  explicit Optimizer(std::vector<ParamTensor> tensors) : tensors_(std::move(tensors)) {}
  virtual ~Optimizer() = default;

  virtual std::string name() const = 0;
  // One update with learning rate lr; grads are not modified.
  void step(std::span<float> params, std::span<const float> grads, double lr) {
    update(params, grads, lr);
    ++steps_;
  }
  // Optimizer steps taken so far (PyTorch's per-parameter 'step').
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  virtual std::vector<StateBuffer> state_buffers() = 0;

 protected:
  virtual void update(std::span<float> params, std::span<const float> grads, double lr) = 0;
  std::vector<ParamTensor> tensors_;
  int64_t steps_ = 0;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          const std::vector<ParamTensor>& tensors);

}  // namespace mnist
