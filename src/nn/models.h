#pragma once
// The models the CLI offers, by name.
#include <string>
#include <vector>

#include "nn/network.h"

namespace mnist {

// "cnn" (the course network), "mlp", "linear".
const std::vector<std::string>& model_names();

// Throws UsageError for an unknown name, Error when the input is too small.
template <class T>
Network<T> make_network(const std::string& model, Shape input, int classes, bool allocate = true);

}  // namespace mnist
