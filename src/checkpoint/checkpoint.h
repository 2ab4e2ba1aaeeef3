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
// plus whatever the caller adds (the trainer adds its configuration and its
// position, see train/resume.h). Optimizer state, when saved, is stored as
// tensors named "optim.<buffer>.<parameter>" (e.g. "optim.exp_avg.conv1.weight")
// or, for buffers that are not per weight, "optim.<buffer>", with metadata
// "optim.name", "optim.steps" and "optim.scalars" (a JSON object of the
// optimizer's numbers). An optimizer that averages its iterates
// (schedule-free, DoG, ASGD) is saved at its average, which eval and predict
// then use, with the point it trains from as "optim.train_params.<parameter>".
#include <map>
#include <memory>
#include <span>
#include <string>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"

namespace mnist {

class SafeTensorsFile;

struct SavedModel {
  Network<float> network;
  InputScaling scaling;
  std::map<std::string, std::string> metadata;
  std::shared_ptr<const SafeTensorsFile> file;  // for restore_optimizer
  std::string path;
};

// Weights a run reports in place of those it trains (the moving average of
// --ema): the parameter block and the buffers, laid out as the network's.
struct ReportedWeights {
  std::span<const float> params, buffers;
};

// Written atomically: a crash never leaves a half-written file at path.
// With reported weights, those are the model, and the network's own go
// beside them as "optim.live.<tensor>" for restore_live_weights.
void save_checkpoint(const std::string& path, const Network<float>& network,
                     const InputScaling& scaling, const std::map<std::string, std::string>& metadata,
                     Optimizer* optimizer = nullptr, const ReportedWeights* reported = nullptr);
// The trained weights saved beside reported ones, into network (whose
// parameters and buffers were read as the reported ones). Error naming the
// missing tensor.
void restore_live_weights(const SavedModel& saved, Network<float>& network);

// Loads the weights. Refuses files whose tensors do not match the model:
// missing, extra, wrongly shaped, not finite.
SavedModel load_model(const std::string& path);
// The same from the file's bytes; what names it in errors.
SavedModel parse_model(std::string bytes, const std::string& what);

// Fills an optimizer (built from the same configuration) with the saved
// buffers, numbers and step count. For an optimizer that averages its
// iterates, the file's weights are the average, and params (the network's)
// are set to the point it trains from. Error if the file holds another
// optimizer's state.
void restore_optimizer(const SavedModel& saved, Optimizer& optimizer, std::span<float> params = {});

}  // namespace mnist
