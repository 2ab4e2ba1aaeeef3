// mnist export: a trained model for other runtimes (ONNX).
#include <fmt/format.h>

#include "cli/common.h"
#include "checkpoint/checkpoint.h"
#include "deploy/onnx.h"
#include "io/file.h"

namespace mnist::cli {

namespace {

struct ExportArgs {
  std::string model, onnx;
};

int run_export(const ExportArgs& args) {
  require_one_process("export");
  if (args.onnx == "-") throw UsageError("--onnx: an ONNX model cannot go to standard output; give a file name");
  check_output(args.onnx);  // before any work
  const SavedModel saved = load_model(args.model);
  export_onnx(saved, args.onnx);
  const Shape in = saved.network.input_shape();
  fmt::print("exported {} ({} model) to {}: input \"input\" N x {} x {} x {} pixels 0..255, output \"logits\" N x {}\n",
             args.model, saved.network.model(), args.onnx, in.channels, in.height, in.width,
             saved.network.classes());
  return 0;
}

}  // namespace

Command add_export(CLI::App& app) {
  auto args = std::make_shared<ExportArgs>();
  auto* cmd = app.add_subcommand("export", "Export a trained model to ONNX, for OpenCV, ONNX Runtime and others");
  cmd->footer(
      "The graph takes raw pixels (0..255, float32, N x 1 x 28 x 28) and scales them as the\n"
      "checkpoint records; it gives the 10 logits. docs/formats.md shows how to load it in OpenCV.\n"
      "Example:\n"
      "  mnist export mnist.safetensors --onnx mnist.onnx");
  cmd->add_option("MODEL", args->model, "Checkpoint (safetensors) written by mnist train")->required();
  cmd->add_option("--onnx", args->onnx, "The ONNX file to write")->required();
  return {cmd, [args] { return run_export(*args); }};
}

}  // namespace mnist::cli
