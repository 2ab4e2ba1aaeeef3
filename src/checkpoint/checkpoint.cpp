#include "checkpoint/checkpoint.h"

#include <fmt/format.h>

#include <cmath>
#include <set>
#include <nlohmann/json.hpp>

#include "io/file.h"
#include "io/safetensors.h"
#include "nn/models.h"
#include "util/error.h"

namespace mnist {

namespace {

constexpr const char* kFormat = "mnist-cpp-checkpoint/1";
// The weights an averaging optimizer trains from ("optim.train_params.<tensor>").
constexpr const char* kTrainParams = "train_params";
// The trained weights beside reported ones ("optim.live.<tensor>").
constexpr const char* kLive = "optim.live.";

std::string float_text(float v) { return fmt::format("{}", v); }

float parse_float(const std::map<std::string, std::string>& meta, const std::string& key,
                  float fallback, const std::string& what) {
  const auto it = meta.find(key);
  if (it == meta.end()) return fallback;
  try {
    size_t used = 0;
    const float v = std::stof(it->second, &used);
    if (used != it->second.size() || !std::isfinite(v)) throw std::invalid_argument(key);
    return v;
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: metadata '{}' is not a number: '{}'", what, key, it->second));
  }
}

// Files written by other tools may have no metadata: infer the model from
// the tensor names, and assume 28x28 MNIST scaled by 1/255.
std::string infer_model(const SafeTensorsFile& file) {
  if (file.contains("conv1.weight")) return "cnn";
  if (file.contains("fc1.weight")) return "mlp";
  if (file.contains("fc.weight")) return "linear";
  throw Error(file.what() + ": no 'model' in the metadata and no known tensor names");
}

// The layers in order, for readers that build the network themselves
// (tools/pytorch_eval.py): [{"kind": "conv2d", "name": "conv1", "out": 20,
// "kernel": 5, "stride": 1, "pad": 2}, {"kind": "maxpool2d", "kernel": 2,
// "stride": 2}, {"kind": "relu"}, {"kind": "batchnorm", "name": "bn1"},
// {"kind": "dropout", "rate": 0.3}, {"kind": "linear", "name": "fc",
// "out": 10}, ...]. A linear layer flattens its input first.
std::string layers_json(const Network<float>& network) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& layer : network.layers()) {
    const LayerSpec& s = layer.spec;
    switch (s.kind) {
      case LayerSpec::Kind::Conv2d:
        layers.push_back({{"kind", "conv2d"}, {"name", s.name}, {"out", s.out}, {"kernel", s.kernel},
                          {"stride", s.stride}, {"pad", s.pad}});
        break;
      case LayerSpec::Kind::ReLU:
        layers.push_back({{"kind", "relu"}});
        break;
      case LayerSpec::Kind::MaxPool2d:
        layers.push_back({{"kind", "maxpool2d"}, {"kernel", s.kernel}, {"stride", s.stride}});
        break;
      case LayerSpec::Kind::Linear:
        layers.push_back({{"kind", "linear"}, {"name", s.name}, {"out", s.out}});
        break;
      case LayerSpec::Kind::BatchNorm:
        layers.push_back({{"kind", "batchnorm"}, {"name", s.name}, {"eps", kBatchNormEps},
                          {"momentum", kBatchNormMomentum}});
        break;
      case LayerSpec::Kind::Dropout:
        layers.push_back({{"kind", "dropout"}, {"rate", s.rate}});
        break;
    }
  }
  return layers.dump();
}

// Each BatchNorm layer's "NAME.num_batches_tracked", with the layer's index
// into Network::batches_tracked().
std::vector<std::pair<std::string, int>> batches_tracked_names(const Network<float>& network) {
  std::vector<std::pair<std::string, int>> out;
  for (const auto& layer : network.layers()) {
    if (layer.norm >= 0) out.emplace_back(layer.spec.name + ".num_batches_tracked", layer.norm);
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const Network<float>& network,
                     const InputScaling& scaling, const std::map<std::string, std::string>& metadata,
                     Optimizer* optimizer, const ReportedWeights* reported) {
  const Shape in = network.input_shape();
  std::map<std::string, std::string> meta = metadata;
  meta.insert({
      {"format", kFormat},
      {"model", network.model()},
      {"input_shape", fmt::format("[{}, {}, {}]", in.channels, in.height, in.width)},
      {"classes", std::to_string(network.classes())},
      {"input_scale", float_text(scaling.scale)},
      {"input_offset", float_text(scaling.offset)},
      {"layers", layers_json(network)},
  });
  std::vector<TensorRef> tensors;
  std::span<const float> params = network.params();
  // An optimizer that averages its iterates is saved at its average; the
  // point it trains from goes with its state.
  std::vector<float> averaged;
  if (optimizer != nullptr && optimizer->has_eval_point()) {
    averaged.resize(params.size());
    optimizer->eval_point(params, averaged);
  }
  std::span<const float> weights = averaged.empty() ? params : std::span<const float>(averaged);
  std::span<const float> buffers = network.buffers();
  if (reported != nullptr) {
    MNIST_ASSERT(averaged.empty() && reported->params.size() == params.size() &&
                 reported->buffers.size() == buffers.size());
    weights = reported->params;
    buffers = reported->buffers;
  }
  // The parameters and buffers from the given blocks, under prefix.
  auto add_weights = [&](const std::string& prefix, std::span<const float> from_params,
                         std::span<const float> from_buffers) {
    for (const auto& t : network.tensors()) {
      tensors.push_back({prefix + t.name, t.shape, from_params.subspan(t.offset, t.size)});
    }
    for (const auto& t : network.buffer_tensors()) {
      tensors.push_back({prefix + t.name, t.shape, from_buffers.subspan(t.offset, t.size)});
    }
  };
  add_weights("", weights, buffers);
  if (reported != nullptr) add_weights(kLive, params, network.buffers());
  for (const auto& [name, norm] : batches_tracked_names(network)) {
    tensors.push_back({name, {}, {}, std::span<const int64_t>(&network.batches_tracked()[norm], 1)});
  }
  if (optimizer != nullptr) {
    meta["optim.name"] = optimizer->name();
    meta["optim.steps"] = std::to_string(optimizer->steps());
    auto per_tensor = [&](const std::string& buffer, std::span<const float> data) {
      for (const auto& t : network.tensors()) {
        tensors.push_back({"optim." + buffer + "." + t.name, t.shape, data.subspan(t.offset, t.size)});
      }
    };
    if (!averaged.empty()) per_tensor(kTrainParams, params);
    for (const auto& buffer : optimizer->state_buffers()) {
      const std::span<const float> data(*buffer.data);
      if (buffer.parallel) {
        per_tensor(buffer.name, data);
      } else if (!data.empty()) {  // an empty history is left out, and restored empty
        tensors.push_back({"optim." + buffer.name, {static_cast<int64_t>(data.size())}, data});
      }
    }
    nlohmann::json scalars = nlohmann::json::object();
    for (const auto& scalar : optimizer->state_scalars()) scalars[scalar.name] = *scalar.value;
    if (!scalars.empty()) meta["optim.scalars"] = scalars.dump();
  }
  write_output(path, safetensors_bytes(meta, tensors), OutputUse::File);
}

SavedModel load_model(const std::string& path) { return parse_model(read_file(path), path); }

SavedModel parse_model(std::string bytes, const std::string& path) {
  auto shared = std::make_shared<const SafeTensorsFile>(std::move(bytes), path);
  const SafeTensorsFile& file = *shared;
  const auto& meta = file.metadata();
  if (meta.count("format") && meta.at("format") != kFormat) {
    throw Error(fmt::format("{}: unsupported checkpoint format '{}' (this program reads {})", path,
                            meta.at("format"), kFormat));
  }
  const std::string model = meta.count("model") ? meta.at("model") : infer_model(file);
  Shape input{1, 28, 28};
  if (meta.count("input_shape")) {
    try {
      const auto dims = nlohmann::json::parse(meta.at("input_shape")).get<std::vector<int>>();
      if (dims.size() != 3 || dims[0] < 1 || dims[1] < 1 || dims[2] < 1 || dims[0] > 4096 ||
          dims[1] > 4096 || dims[2] > 4096) {
        throw std::invalid_argument("shape");
      }
      input = {dims[0], dims[1], dims[2]};
    } catch (const std::exception&) {
      throw Error(fmt::format("{}: metadata 'input_shape' is invalid: '{}'", path, meta.at("input_shape")));
    }
  }
  const float classes_f = parse_float(meta, "classes", kNumClasses, path);
  if (classes_f != kNumClasses) {
    throw Error(fmt::format("{}: model has {} classes, this program handles {}", path, classes_f, kNumClasses));
  }
  // Work out the size first: metadata must not make us allocate what the
  // file cannot hold.
  auto build = [&](bool allocate) {
    try {
      return make_network<float>(model, input, kNumClasses, allocate);
    } catch (const UsageError&) {
      throw Error(fmt::format("{}: unknown model '{}' in the metadata", path, model));
    } catch (const Error& e) {
      throw Error(fmt::format("{}: metadata 'input_shape' does not fit model {} ({})", path, model, e.what()));
    }
  };
  // Small models go on to the precise per-tensor checks below.
  const size_t needed = build(false).num_params();
  if (needed * sizeof(float) > file.data_size() && needed * sizeof(float) > (size_t{64} << 20)) {
    throw Error(fmt::format("{}: a {} model for {}x{}x{} inputs has {} parameters, but the file holds only {} bytes "
                            "of tensors", path, model, input.channels, input.height, input.width, needed,
                            file.data_size()));
  }
  Network<float> network = build(true);
  for (const auto& t : network.tensors()) {
    if (!file.contains(t.name)) throw Error(fmt::format("{}: missing tensor '{}' for model {}", path, t.name, model));
    file.copy_to(t.name, t.shape, network.view(t));
  }
  for (const auto& t : network.buffer_tensors()) {
    if (!file.contains(t.name)) throw Error(fmt::format("{}: missing tensor '{}' for model {}", path, t.name, model));
    file.copy_to(t.name, t.shape, network.buffer_view(t));
  }
  std::set<std::string> known;  // every name of the model's
  for (const auto& t : network.tensors()) known.insert(t.name);
  for (const auto& t : network.buffer_tensors()) known.insert(t.name);
  for (const auto& [name, norm] : batches_tracked_names(network)) {
    known.insert(name);
    // Optional, as for PyTorch's load_state_dict: files of other tools may leave it out.
    if (file.contains(name)) network.batches_tracked()[norm] = file.int64_scalar(name);
  }
  for (const auto& name : file.names()) {
    if (name.rfind("optim.", 0) != 0 && known.count(name) == 0) {
      throw Error(fmt::format("{}: unexpected tensor '{}' for model {}", path, name, model));
    }
  }
  for (float v : network.buffers()) {
    if (!std::isfinite(v)) throw Error(path + ": the running statistics contain NaN or infinity");
  }
  for (float v : network.params()) {
    if (!std::isfinite(v)) throw Error(path + ": the weights contain NaN or infinity");
  }
  InputScaling scaling{parse_float(meta, "input_scale", 1.0f / 255.0f, path),
                       parse_float(meta, "input_offset", 0.0f, path)};
  return {std::move(network), scaling, meta, std::move(shared), path};
}

namespace {

// The optimizer's numbers from "optim.scalars".
void restore_scalars(const SavedModel& saved, Optimizer& optimizer) {
  const std::vector<StateScalar> scalars = optimizer.state_scalars();
  if (scalars.empty()) return;
  const auto it = saved.metadata.find("optim.scalars");
  if (it == saved.metadata.end()) throw Error(saved.path + ": missing metadata 'optim.scalars'");
  const auto j = nlohmann::json::parse(it->second, nullptr, false);
  if (!j.is_object()) throw Error(saved.path + ": metadata 'optim.scalars' is not a JSON object");
  for (const auto& scalar : scalars) {
    if (!j.contains(scalar.name) || !j.at(scalar.name).is_number()) {
      throw Error(fmt::format("{}: metadata 'optim.scalars' has no number '{}'", saved.path, scalar.name));
    }
    *scalar.value = j.at(scalar.name).get<double>();
  }
}

// A buffer of its own: the saved size for a resizable one, else its own.
void restore_block(const SavedModel& saved, const StateBuffer& buffer) {
  const std::string key = "optim." + buffer.name;
  if (!saved.file->contains(key)) {
    if (buffer.resizable) {
      buffer.data->clear();
      return;
    }
    throw Error(fmt::format("{}: missing optimizer tensor '{}'", saved.path, key));
  }
  const std::vector<int64_t>& shape = saved.file->shape(key);
  if (buffer.resizable && shape.size() == 1) buffer.data->resize(static_cast<size_t>(shape[0]));
  saved.file->copy_to(key, {static_cast<int64_t>(buffer.data->size())}, *buffer.data);
}

}  // namespace

void restore_live_weights(const SavedModel& saved, Network<float>& network) {
  auto restore = [&](const ParamTensor& t, std::span<float> into) {
    const std::string key = kLive + t.name;
    if (!saved.file->contains(key)) {
      throw Error(fmt::format("{}: missing tensor '{}' (the run averages its weights, --ema)", saved.path, key));
    }
    saved.file->copy_to(key, t.shape, into);
  };
  for (const auto& t : network.tensors()) restore(t, network.view(t));
  for (const auto& t : network.buffer_tensors()) restore(t, network.buffer_view(t));
}

void restore_optimizer(const SavedModel& saved, Optimizer& optimizer, std::span<float> params) {
  const auto& meta = saved.metadata;
  const auto name = meta.find("optim.name");
  const auto steps = meta.find("optim.steps");
  if (name == meta.end() || steps == meta.end()) {
    throw Error(saved.path + ": holds no optimizer state (it was not written by mnist train)");
  }
  if (name->second != optimizer.name()) {
    throw Error(fmt::format("{}: holds {} state, not {}", saved.path, name->second, optimizer.name()));
  }
  auto per_tensor = [&](const std::string& buffer, std::span<float> data) {
    for (const auto& t : optimizer.tensors()) {
      const std::string key = "optim." + buffer + "." + t.name;
      if (!saved.file->contains(key)) throw Error(fmt::format("{}: missing optimizer tensor '{}'", saved.path, key));
      saved.file->copy_to(key, t.shape, data.subspan(t.offset, t.size));
    }
  };
  if (optimizer.has_eval_point()) {
    MNIST_ASSERT(params.size() >= optimizer.size());
    per_tensor(kTrainParams, params);
  }
  for (const auto& buffer : optimizer.state_buffers()) {
    if (buffer.parallel) {
      per_tensor(buffer.name, *buffer.data);
    } else {
      restore_block(saved, buffer);
    }
  }
  restore_scalars(saved, optimizer);
  try {
    optimizer.set_steps(std::stoll(steps->second));
  } catch (const std::exception&) {
    throw Error(fmt::format("{}: metadata 'optim.steps' is not a number: '{}'", saved.path, steps->second));
  }
}

}  // namespace mnist
