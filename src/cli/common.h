#pragma once
// What the subcommands share: registration, data paths, terminal output.
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/network.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

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
Command add_compare(CLI::App& app);
Command add_lr_find(CLI::App& app);

// $MNIST_DATA if set, else data/mnist (where scripts/setup.sh puts MNIST).
std::string default_data_path();

// Adds --data with the default above.
CLI::Option* add_data_option(CLI::App* cmd, std::string& path);
// Adds --model, one of model_names().
CLI::Option* add_model_option(CLI::App* cmd, std::string& model);
// Adds --threads (0 = all cores).
CLI::Option* add_threads_option(CLI::App* cmd, int& threads);

// Loads data and, for course-JSON floats, maps them onto the scaling the
// model expects (a model trained on [0,1] inputs evaluated on [-1,1] data).
DataSplits load_data_for(const std::string& path, const InputScaling& model_scaling, Splits which = Splits::All);

// Error unless the model takes the data's images: "MODEL: the model takes
// HxW images, DATA has hxw".
void require_input_shape(const Network<float>& network, const ImageSet& images, const std::string& model,
                         const std::string& data);

// Adds a flag whose value is kept only when given (std::optional target).
template <class T>
CLI::Option* add_optional(CLI::App* cmd, const std::string& name, std::optional<T>& target, const std::string& help) {
  return cmd->add_option_function<T>(
      name, [&target](const T& v) { target = v; }, help);
}

// The optimizer's hyperparameter flags (--momentum, --beta1, ...), with
// --optimizer and --lr when with_name_and_lr; and the schedule's flags.
// Each returns the options it added, placed in group.
std::vector<CLI::Option*> add_optimizer_options(CLI::App* cmd, OptimizerConfig& o, const std::string& group,
                                                bool with_name_and_lr);
std::vector<CLI::Option*> add_schedule_options(CLI::App* cmd, ScheduleConfig& s, const std::string& group);

// New weights of the named model from seed, for the data's image size;
// Error "DATA: HxW images do not fit the MODEL model (...)" if they cannot be.
Network<float> new_network(const std::string& model, uint64_t seed, const DataSplits& data,
                           const std::string& data_path);

bool stdout_is_terminal();

// After catch_stop_signals(), SIGINT or SIGTERM sets stop_signal() to the
// signal's number: long commands stop at the next step, save what they must
// and exit with 128 + the signal. A second signal exits at once (output
// files are written atomically, so nothing is left half-written).
void catch_stop_signals();
int stop_signal();

}  // namespace mnist::cli
