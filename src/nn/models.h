#pragma once
// The models the CLI offers, by name: one registry row a model.
#include <string>
#include <vector>

#include "nn/network.h"

namespace mnist {

struct ModelRow {
  const char* name;     // the --model name
  const char* summary;  // a few words for --help
  std::vector<LayerSpec> (*layers)(int classes);
};

// cnn (the course network), mlp, linear, speed and best (the recipes').
const std::vector<ModelRow>& model_registry();
const std::vector<std::string>& model_names();
// The row of a name, or UsageError naming --model and the choices.
const ModelRow& find_model(const std::string& name);

// Throws UsageError for an unknown name, Error when the input is too small.
template <class T>
Network<T> make_network(const std::string& model, Shape input, int classes, bool allocate = true);

}  // namespace mnist
