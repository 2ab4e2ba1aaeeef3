#include "deploy/onnx.h"

#include <fmt/format.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "io/file.h"
#include "util/error.h"

namespace mnist {

namespace {

constexpr int kOpset = 13;

// Builds the graph node by node; each value is named by the node that makes it.
class GraphBuilder {
 public:
  explicit GraphBuilder(onnx::GraphProto& graph) : graph_(graph) {}

  // A float tensor initializer (a weight), as its dims and values.
  std::string constant(const std::string& name, const std::vector<int64_t>& dims, std::span<const float> values) {
    onnx::TensorProto* t = graph_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    t->mutable_raw_data()->assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
    return name;
  }
  std::string constant_int64(const std::string& name, const std::vector<int64_t>& values) {
    onnx::TensorProto* t = graph_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    for (int64_t v : values) t->add_int64_data(v);
    return name;
  }

  // A node of op_type on inputs; returns its output's name.
  onnx::NodeProto& node(const std::string& op_type, const std::vector<std::string>& inputs, const std::string& output) {
    onnx::NodeProto* n = graph_.add_node();
    n->set_op_type(op_type);
    n->set_name(output);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return *n;
  }
  static void ints(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& values) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  static void real(onnx::NodeProto& n, const std::string& name, float value) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(value);
  }
  static void integer(onnx::NodeProto& n, const std::string& name, int64_t value) {
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(value);
  }

 private:
  onnx::GraphProto& graph_;
};

void declare(onnx::ValueInfoProto* value, const std::string& name, const std::vector<int64_t>& dims) {
  value->set_name(name);
  onnx::TypeProto_Tensor* type = value->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("N");  // any batch size
  for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

}  // namespace

std::string onnx_bytes(const SavedModel& saved) {
  const Network<float>& net = saved.network;
  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("mnist");
  model.set_producer_version("2.0.0");
  model.set_doc_string(fmt::format("{} model; input: raw pixels 0..255, scaled inside by {} and {}; output: logits",
                                   net.model(), saved.scaling.scale, saved.scaling.offset));
  model.add_opset_import()->set_version(kOpset);
  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(net.model());
  GraphBuilder g(graph);
  const Shape in = net.input_shape();
  declare(graph.add_input(), "input", {in.channels, in.height, in.width});
  // The checkpoint's scaling, inside the graph: x = pixel * scale + offset.
  const float scale[] = {saved.scaling.scale}, offset[] = {saved.scaling.offset};
  g.node("Mul", {"input", g.constant("input_scale", {}, scale)}, "scaled");
  std::string x = g.node("Add", {"scaled", g.constant("input_offset", {}, offset)}, "x").output(0);
  const auto params = net.params();
  int index = 0;
  for (const Layer& layer : net.layers()) {
    const LayerSpec& spec = layer.spec;
    const std::string out = spec.name.empty() ? fmt::format("layer{}", index) : spec.name;
    ++index;
    switch (spec.kind) {
      case LayerSpec::Kind::Conv2d: {
        const ParamTensor& w = *net.find(spec.name + ".weight");
        const ParamTensor& b = *net.find(spec.name + ".bias");
        auto& n = g.node("Conv", {x, g.constant(w.name, w.shape, params.subspan(w.offset, w.size)),
                                  g.constant(b.name, b.shape, params.subspan(b.offset, b.size))},
                         out);
        GraphBuilder::ints(n, "kernel_shape", {spec.kernel, spec.kernel});
        GraphBuilder::ints(n, "pads", {spec.pad, spec.pad, spec.pad, spec.pad});
        GraphBuilder::ints(n, "strides", {spec.stride, spec.stride});
        x = out;
        break;
      }
      case LayerSpec::Kind::ReLU:
        x = g.node("Relu", {x}, out).output(0);
        break;
      case LayerSpec::Kind::MaxPool2d: {
        auto& n = g.node("MaxPool", {x}, out);
        GraphBuilder::ints(n, "kernel_shape", {spec.kernel, spec.kernel});
        GraphBuilder::ints(n, "strides", {spec.stride, spec.stride});
        x = out;
        break;
      }
      case LayerSpec::Kind::Linear: {
        // Flattened in (C, H, W) order, as torch.flatten; then x W^T + b.
        auto& flat = g.node("Flatten", {x}, out + "_flat");
        GraphBuilder::integer(flat, "axis", 1);
        const ParamTensor& w = *net.find(spec.name + ".weight");
        const ParamTensor& b = *net.find(spec.name + ".bias");
        auto& n = g.node("Gemm", {out + "_flat", g.constant(w.name, w.shape, params.subspan(w.offset, w.size)),
                                  g.constant(b.name, b.shape, params.subspan(b.offset, b.size))},
                         out);
        GraphBuilder::integer(n, "transB", 1);
        x = out;
        break;
      }
      case LayerSpec::Kind::BatchNorm: {  // evaluation mode: the running statistics
        const auto buffers = net.buffers();
        const ParamTensor& w = *net.find(spec.name + ".weight");
        const ParamTensor& b = *net.find(spec.name + ".bias");
        const int64_t c = layer.in.channels;
        auto& n = g.node("BatchNormalization",
                         {x, g.constant(w.name, w.shape, params.subspan(w.offset, w.size)),
                          g.constant(b.name, b.shape, params.subspan(b.offset, b.size)),
                          g.constant(spec.name + ".running_mean", {c}, buffers.subspan(layer.running, c)),
                          g.constant(spec.name + ".running_var", {c}, buffers.subspan(layer.running + c, c))},
                         out);
        GraphBuilder::real(n, "epsilon", kBatchNormEps);
        GraphBuilder::real(n, "momentum", 1 - kBatchNormMomentum);
        x = out;
        break;
      }
      case LayerSpec::Kind::Dropout:  // identity in evaluation
        break;
    }
  }
  g.node("Identity", {x}, "logits");
  onnx::ValueInfoProto* output = graph.add_output();
  output->set_name("logits");
  onnx::TypeProto_Tensor* type = output->mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  type->mutable_shape()->add_dim()->set_dim_param("N");
  type->mutable_shape()->add_dim()->set_dim_value(net.classes());
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(fmt::format("the ONNX checker refused the exported {} model: {}", net.model(), e.what()));
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error("the ONNX model could not be serialised");
  return bytes;
}

void export_onnx(const SavedModel& model, const std::string& path) {
  write_output(path, onnx_bytes(model), OutputUse::File);
}

}  // namespace mnist
