#pragma once
// Checkpoints are safetensors files that PyTorch and NumPy users can load:
// the weights under their PyTorch state_dict names and layouts, and in the
// metadata what is needed to feed the model what it was trained on.
//
// Metadata keys (all strings):
//   format        "mnist-cpp-checkpoint/1"
//   model         "cnn" | "mlp" | "linear"
//   input_shape   "[C, H, W]" as JSON
//   classes       "10"
//   input_scale, input_offset   network input = pixel * scale + offset
//   config        the training configuration, as JSON
// Optimizer state, when saved, is stored as tensors named
// "optim.<buffer>.<parameter>" (e.g. "optim.momentum_buffer.conv1.weight")
// and its step count as metadata "optim.steps".
#include <map>
#include <string>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"

namespace mnist {

struct SavedModel {
  Network<float> network;
  InputScaling scaling;
  std::map<std::string, std::string> metadata;
};

void save_checkpoint(const std::string& path, const Network<float>& network,
                     const InputScaling& scaling, const std::string& config_json,
                     Optimizer* optimizer = nullptr);

// Loads weights (and, if given, optimizer state). Refuses files whose
// tensors do not match the model: missing, extra, wrongly shaped.
SavedModel load_model(const std::string& path);

}  // namespace mnist
