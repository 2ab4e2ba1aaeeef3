#pragma once
// A named view into a flat parameter block: what optimizers, checkpoints and
// networks share about a tensor, without depending on one another.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mnist {

struct ParamTensor {
  std::string name;            // "conv1.weight"
  std::vector<int64_t> shape;  // PyTorch layout: OIHW for conv, (out, in) for linear
  size_t offset = 0, size = 0;
  bool is_bias = false;
};

}  // namespace mnist
