#pragma once
// Recipes: named training setups beyond the course's, each a preset of a
// TrainConfig that flags given with it may still change (docs/accuracy.md
// has what each reaches and what each of its ingredients buys).
#include <string>
#include <vector>

#include "train/config.h"

namespace mnist {

struct Recipe {
  std::string name;
  std::string summary;  // what it reaches, for --help (docs/accuracy.md has the rest)
  void (*apply)(TrainConfig&);
};

const std::vector<Recipe>& recipes();
std::vector<std::string> recipe_names();
// UsageError naming --recipe for an unknown name.
const Recipe& find_recipe(const std::string& name);

// Where Debian's dataset-fashion-mnist package puts Fashion-MNIST.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace mnist
