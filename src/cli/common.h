#pragma once
// What the subcommands share: registration, data paths, terminal output.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "data/dataset.h"
#include "nn/network.h"

namespace mnist::cli {

// Each subcommand registers its flags and returns the function that runs it
// (called after parsing, when that subcommand was chosen). It returns the
// process exit code; errors are thrown as Error or UsageError.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
Command add_train(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_predict(CLI::App& app);
Command add_convert(CLI::App& app);

// $MNIST_DATA if set, else data/mnist (where scripts/setup.sh puts MNIST).
std::string default_data_path();

// Adds --data with the default above.
CLI::Option* add_data_option(CLI::App* cmd, std::string& path);
// Adds --threads (0 = all cores).
CLI::Option* add_threads_option(CLI::App* cmd, int& threads);

// Loads data and, for course-JSON floats, maps them onto the scaling the
// model expects (a model trained on [0,1] inputs evaluated on [-1,1] data).
DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling);

// Error unless the model takes the data's images: "MODEL: the model takes
// HxW images, DATA has hxw".
void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data);

bool stdout_is_terminal();

}  // namespace mnist::cli
