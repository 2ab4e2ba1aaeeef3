#pragma once
// What the subcommands share: registration, data paths, terminal output.
#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dist/mpi.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "train/run.h"

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
Command add_trajectories(CLI::App& app);
Command add_serve(CLI::App& app);
Command add_export(CLI::App& app);

// $MNIST_DATA if set, else data/mnist (where scripts/setup.sh puts MNIST).
std::string default_data_path();

// Adds --data with the default above.
CLI::Option* add_data_option(CLI::App* cmd, std::string& path);
// Adds --model, one of model_names().
CLI::Option* add_model_option(CLI::App* cmd, std::string& model);
// Adds --threads (0 = all cores).
CLI::Option* add_threads_option(CLI::App* cmd, int& threads);
// A CLI11 validator from the library's own check of a flag's value: the
// UsageError it throws becomes the message (without its "FLAG: "), so a
// bad value is refused as the flags are read, in the library's words.
CLI::Validator library_check(const std::string& flag, std::function<void(const std::string&)> check);

// Adds a flag whose value is kept only when given (std::optional target).
template <class T>
CLI::Option* add_optional(CLI::App* cmd, const std::string& name, std::optional<T>& target, const std::string& help) {
  return cmd->add_option_function<T>(
      name, [&target](const T& v) { target = v; }, help);
}

// The optimizer's flags, derived from the registry's rows: --optimizer and
// --lr when with_name_and_lr, every hyperparameter of every row (each
// flag once, its help listing each optimizer's default), --no-decay-bias.
// The schedule's flags likewise. Each returns the options it added, placed
// in group.
// The flags that set the given (unresolved) optimizer's hyperparameters,
// as a user would type them: " --momentum 0.5 --nesterov" ("" for none).
std::string hyper_flags_text(const OptimizerConfig& given);

std::vector<CLI::Option*> add_optimizer_options(CLI::App* cmd, OptimizerConfig& o, const std::string& group,
                                                bool with_name_and_lr);
std::vector<CLI::Option*> add_schedule_options(CLI::App* cmd, ScheduleConfig& s, const std::string& group);
// --epochs, --batch-size and --no-shuffle; --clip-norm in the optimizer's
// group is added by add_optimizer_options' callers.
std::vector<CLI::Option*> add_batching_options(CLI::App* cmd, TrainConfig& c, const std::string& group);
// --optimizer alone, listing the registry's names.
CLI::Option* add_optimizer_name_option(CLI::App* cmd, std::string& name);

// Creates an output folder (--out of compare and lr-find). "-", a device, a
// FIFO or a file there is a usage error: these outputs are folders.
void make_out_folder(const std::string& out, const std::string& flag = "--out");

bool stdout_is_terminal();

// The command line as given (main records it): under mpirun every rank
// must have the same.
const std::vector<std::string>& arguments();
void set_arguments(int argc, char** argv);

// The process's MPI session: inactive unless mpirun or srun started it.
MpiSession& mpi();
void set_mpi(MpiSession& session);
// Whether this process prints the command's output (not a rank other than 0).
inline bool prints() { return mpi().root(); }

// Leaving every rank with an exit code and nothing more to print: what the
// ranks that did not fail do when a collective step failed on another.
struct QuietExit {
  int code;
};
// Runs a step that may fail on some ranks only (reading local files):
// every rank then learns whether it failed anywhere. The ranks where it
// failed rethrow their error, marked as agreed (no MPI_Abort needed), the
// others throw QuietExit with the worst exit code. Outside MPI, just runs it.
void collectively(const std::function<void()>& step);
// Whether the error being handled was agreed by every rank (see above).
bool error_agreed();

// Commands that run in one process refuse to run under mpirun with several
// ranks (UsageError naming the command).
void require_one_process(const std::string& command);

// After catch_stop_signals(), SIGINT or SIGTERM sets stop_signal() to the
// signal's number: long commands stop at the next step, save what they must
// and exit with 128 + the signal. A second signal exits at once (output
// files are written atomically, so nothing is left half-written).
void catch_stop_signals();
int stop_signal();

}  // namespace mnist::cli
