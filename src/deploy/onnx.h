#pragma once
// Exporting a trained model to ONNX (opset 13), written and checked with
// Debian's ONNX library (libonnx-dev, over protobuf). docs/formats.md, "ONNX".
//
// The graph takes "input": float32 N x C x H x W (N free; 1 x 28 x 28 for
// MNIST) holding raw pixel values 0..255, and applies the checkpoint's
// input scaling itself (pixel * scale + offset), so an image as OpenCV or
// NumPy reads it goes in as it is. It gives "logits": N x 10, the network's
// outputs before the softmax.
#include <string>

#include "checkpoint/checkpoint.h"

namespace mnist {

// The model as ONNX bytes, checked by onnx::checker (Error with its reason
// if it refuses them).
std::string onnx_bytes(const SavedModel& model);

// Writes onnx_bytes() to path (io/file.h's rules: atomic, never over a
// device or through "-").
void export_onnx(const SavedModel& model, const std::string& path);

}  // namespace mnist
