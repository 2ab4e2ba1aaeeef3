#include "cli/common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <fmt/ranges.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "nn/models.h"
#include "util/thread_pool.h"
#include "util/error.h"

namespace mnist::cli {

std::string default_data_path() {
  const char* env = std::getenv("MNIST_DATA");
  return env && *env ? env : "data/mnist";
}

CLI::Option* add_data_option(CLI::App* cmd, std::string& path) {
  path = default_data_path();
  return cmd
      ->add_option("--data", path,
                   "Folder of IDX files (train-images-idx3-ubyte, ... raw or "
                   ".gz) or a course "
                   "mnist.json.gz; $MNIST_DATA overrides the default")
      ->capture_default_str();
}

CLI::Option* add_model_option(CLI::App* cmd, std::string& model) {
  std::vector<std::string> rows;
  for (const ModelRow& row : model_registry()) rows.push_back(fmt::format("{} ({})", row.name, row.summary));
  // Checked as the flags are read (before any data is loaded).
  return cmd->add_option("--model", model, fmt::format("One of {}", fmt::join(rows, ", ")))
      ->capture_default_str()
      ->check(library_check("--model", [](const std::string& name) { find_model(name); }));
}

CLI::Validator library_check(const std::string& flag, std::function<void(const std::string&)> check) {
  return CLI::Validator(
      [flag, check = std::move(check)](std::string& text) {
        try {
          check(text);
          return std::string();
        } catch (const UsageError& e) {
          const std::string what = e.what(), prefix = flag + ": ";
          return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
        } catch (const std::exception&) {
          return std::string();  // not even of the flag's type: CLI11 says so
        }
      },
      "");  // no description: --help stays free of CLI11's validator text
}

CLI::Option* add_threads_option(CLI::App* cmd, int& threads) {
  return cmd->add_option("--threads", threads, "Worker threads, up to 256; 0 uses every core")
      ->capture_default_str()
      ->check(library_check("--threads", [](const std::string& text) { resolve_threads(std::stoi(text)); }));
}

namespace {

// Each row's default of a value, as (row name, text).
using Defaults = std::vector<std::pair<std::string, std::string>>;

// "(sgd 0.01; adadelta 1; adam, adamw 0.001)": rows with the same default
// together; the most common default last, as "others", when more than two
// rows share it.
std::string defaults_text(const Defaults& defaults) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;  // value, rows
  for (const auto& [name, value] : defaults) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == value; });
    if (it == groups.end()) it = groups.insert(groups.end(), {value, {}});
    it->second.push_back(name);
  }
  if (groups.size() == 1 && (groups[0].first.empty() || defaults.size() > 2)) {
    return groups[0].first.empty() ? "" : "(" + groups[0].first + ")";
  }
  const auto most = std::max_element(groups.begin(), groups.end(),
                                     [](const auto& a, const auto& b) { return a.second.size() < b.second.size(); });
  const bool others = most->second.size() > 2;
  std::string out;
  for (auto it = groups.begin(); it != groups.end(); ++it) {
    if (it == most && others) continue;
    out += fmt::format("{}{} {}", out.empty() ? "" : "; ", fmt::join(it->second, ", "), it->first);
  }
  if (others) out += fmt::format("; others {}", most->first);
  return "(" + out + ")";
}

std::string value_text(const Hyper& h) {
  if (h.shown_default != nullptr) return h.shown_default;
  if (h.kind == Hyper::Kind::Switch) return h.fallback[0] != 0 ? "on" : "off";
  if (h.kind == Hyper::Kind::Choice) return h.choices.at(static_cast<size_t>(h.fallback[0]));
  if (h.fallback.empty()) return "none";
  return fmt::format("{:g}", fmt::join(h.fallback, " "));
}

// The flags of one key that rows share, writing into values: a switch is
// --KEY (and --no-KEY where some row has it on by default); a choice takes
// a name; the others take as many numbers as the rows' largest tuple (each
// row then checks its own count).
std::vector<CLI::Option*> add_hyper_flag(CLI::App* cmd, const std::vector<const Hyper*>& rows_hyper,
                                         HyperValues& values, const std::string& help) {
  const Hyper& h = *rows_hyper.front();
  const std::string key = h.key, flag = flag_of(key);
  if (h.kind == Hyper::Kind::Switch) {
    std::vector<CLI::Option*> flags = {
        cmd->add_flag_callback(flag, [&values, key] { values.set(key, 1.0); }, help)};
    const bool on_somewhere = std::any_of(rows_hyper.begin(), rows_hyper.end(),
                                          [](const Hyper* r) { return r->fallback[0] != 0; });
    if (on_somewhere) {
      flags.push_back(cmd->add_flag_callback("--no-" + flag.substr(2), [&values, key] { values.set(key, 0.0); },
                                             "Turn " + flag + " off"));
    }
    return flags;
  }
  if (h.kind == Hyper::Kind::Choice) {
    return {cmd->add_option_function<std::string>(
                   flag, [&values, &h, key](const std::string& name) { values.set(key, choice_index(h, name)); },
                   help)
                ->type_name(fmt::format("{{{}}}", fmt::join(h.choices, ",")))};
  }
  if (h.kind == Hyper::Kind::List) {
    return {cmd->add_option_function<std::vector<double>>(
                   flag, [&values, key](const std::vector<double>& v) { values.set(key, v); }, help)
                ->delimiter(',')
                ->type_name("LIST")};
  }
  size_t most = 1;
  for (const Hyper* r : rows_hyper) most = std::max(most, r->kind == Hyper::Kind::Tuple ? r->fallback.size() : 1);
  const char* names[] = {"X", "X Y", "X Y Z"};
  const std::string type = h.kind == Hyper::Kind::Integer ? "INT" : most <= 3 ? names[most - 1] : "X ...";
  return {cmd->add_option_function<std::vector<double>>(
                 flag, [&values, key](const std::vector<double>& v) { values.set(key, v); }, help)
              ->expected(1, static_cast<int>(most))
              ->type_name(most > 1 && h.kind != Hyper::Kind::Tuple ? "X [Y]" : type)};
}

// The flags of every key in the rows, each once, in the order it first
// appears, its help listing the default of every row that has it.
template <class Row>
std::vector<CLI::Option*> add_hyper_flags(CLI::App* cmd, const std::vector<Row>& registry, HyperValues& values) {
  struct Key {
    std::vector<const Hyper*> hypers;
    Defaults defaults;
  };
  std::vector<Key> keys;
  for (const Row& row : registry) {
    for (const Hyper& h : row.hypers) {
      auto it = std::find_if(keys.begin(), keys.end(),
                             [&](const Key& k) { return std::strcmp(k.hypers.front()->key, h.key) == 0; });
      if (it == keys.end()) it = keys.insert(keys.end(), Key{});
      it->hypers.push_back(&h);
      it->defaults.emplace_back(row.name, value_text(h));
    }
  }
  std::vector<CLI::Option*> options;
  for (const Key& k : keys) {
    const std::string text = defaults_text(k.defaults);
    const std::string help = text.empty() ? k.hypers.front()->help : fmt::format("{} {}", k.hypers.front()->help, text);
    for (CLI::Option* opt : add_hyper_flag(cmd, k.hypers, values, help)) options.push_back(opt);
  }
  // --beta1 and --beta2: one element of betas each.
  for (const HyperAlias& a : hyper_aliases()) {
    const bool listed = std::any_of(keys.begin(), keys.end(),
                                    [&](const Key& k) { return std::strcmp(k.hypers.front()->key, a.key) == 0; });
    if (!listed) continue;
    const std::string alias = a.alias;
    options.push_back(cmd->add_option_function<double>(
                             flag_of(alias), [&values, alias](double v) { values.set(alias, v); },
                             fmt::format("Element {} of {}", a.index + 1, flag_of(a.key)))
                          ->type_name("X"));
  }
  return options;
}

}  // namespace

std::vector<CLI::Option*> add_batching_options(CLI::App* cmd, TrainConfig& c, const std::string& group) {
  CLI::Option* epochs =
      cmd->add_option("--epochs", c.epochs, "Passes over the training data")->capture_default_str()->group(group);
  return {
      epochs,
      cmd->add_option("--steps", c.steps,
                      "Train for this many optimizer steps instead of whole epochs (the schedule spans them)")
          ->excludes(epochs)
          ->group(group),
      cmd->add_option("--batch-size", c.batch_size, "Samples per optimizer step")->capture_default_str()->group(group),
      cmd->add_flag_callback("--no-shuffle", [&c] { c.shuffle = false; }, "Feed batches in file order")
          ->group(group)};
}

CLI::Option* add_optimizer_name_option(CLI::App* cmd, std::string& name) {
  return cmd->add_option("--optimizer", name, fmt::format("One of {}", fmt::join(optimizer_names(), ", ")))
      ->capture_default_str();
}

std::string hyper_flags_text(const OptimizerConfig& given) {
  const OptimizerRow* row = find_row(optimizer_registry(), given.name);
  std::string out;
  for (const auto& [key, v] : given.hypers.all()) {
    const Hyper* h = nullptr;
    if (row) {
      const auto it = std::find_if(row->hypers.begin(), row->hypers.end(), [&](const Hyper& x) { return x.key == key; });
      if (it != row->hypers.end()) h = &*it;
    }
    const std::string flag = flag_of(key);
    if (h && h->kind == Hyper::Kind::Switch) {
      out += " " + (v.at(0) != 0 ? flag : "--no-" + flag.substr(2));
    } else if (h && h->kind == Hyper::Kind::Choice) {
      out += fmt::format(" {} {}", flag, h->choices.at(static_cast<size_t>(v.at(0))));
    } else if (h && h->kind == Hyper::Kind::List) {
      out += fmt::format(" {} {:g}", flag, fmt::join(v, ","));
    } else {
      out += fmt::format(" {} {:g}", flag, fmt::join(v, " "));
    }
  }
  if (!given.decay_biases) out += " --no-decay-bias";
  return out;
}

std::vector<CLI::Option*> add_optimizer_options(CLI::App* cmd, OptimizerConfig& o, const std::string& group,
                                                bool with_name_and_lr) {
  std::vector<CLI::Option*> options;
  if (with_name_and_lr) {
    options.push_back(add_optimizer_name_option(cmd, o.name));
    Defaults lrs;
    for (const OptimizerRow& row : optimizer_registry()) lrs.emplace_back(row.name, fmt::format("{:g}", row.lr));
    options.push_back(add_optional(cmd, "--lr", o.lr, "Learning rate " + defaults_text(lrs)));
  }
  for (CLI::Option* opt : add_hyper_flags(cmd, optimizer_registry(), o.hypers)) options.push_back(opt);
  options.push_back(cmd->add_flag_callback(
      "--no-decay-bias", [&o] { o.decay_biases = false; }, "Exempt biases from weight decay"));
  for (CLI::Option* opt : options) opt->group(group);
  return options;
}

std::vector<CLI::Option*> add_schedule_options(CLI::App* cmd, ScheduleConfig& s, const std::string& group) {
  std::vector<CLI::Option*> options;
  options.push_back(
      cmd->add_option("--schedule", s.name, fmt::format("One of {}", fmt::join(schedule_names(), ", ")))
          ->capture_default_str());
  for (CLI::Option* opt : add_hyper_flags(cmd, schedule_registry(), s.hypers)) options.push_back(opt);
  options.push_back(
      cmd->add_option("--warmup-steps", s.warmup_steps, "Linear warm-up over this many steps, with any schedule")
          ->capture_default_str());
  for (CLI::Option* opt : options) opt->group(group);
  return options;
}

void make_out_folder(const std::string& out, const std::string& flag) {
  if (out.empty()) throw UsageError(flag + ": must name a folder");
  if (out == "-") throw UsageError(flag + ": names a folder of results, not standard output");
  std::error_code ec;
  const auto status = std::filesystem::status(out, ec);  // follows links: a link to a folder is a folder
  if (!ec && std::filesystem::exists(status) && !std::filesystem::is_directory(status)) {
    throw UsageError(fmt::format("{} {}: is not a folder (it names a folder of results)", flag, out));
  }
  std::filesystem::create_directories(out, ec);
  if (ec) throw Error(fmt::format("{} {}: cannot create the folder: {}", flag, out, ec.message()));
}

// Under mpirun, standard output is mpirun's pipe even when it shows on a
// terminal: no status lines drawn over each other.
bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1 && !launched_by_mpi(); }

namespace {
std::vector<std::string> g_arguments;
MpiSession* g_mpi = nullptr;
bool g_agreed = false;
}  // namespace

const std::vector<std::string>& arguments() { return g_arguments; }
void set_arguments(int argc, char** argv) { g_arguments.assign(argv, argv + argc); }

MpiSession& mpi() {
  static MpiSession none;  // before main sets it: one process
  return g_mpi ? *g_mpi : none;
}

void set_mpi(MpiSession& session) { g_mpi = &session; }

void collectively(const std::function<void()>& step) {
  if (!mpi().active()) return step();
  int status = 0;
  std::exception_ptr error;
  try {
    step();
  } catch (const UsageError&) {
    status = 2, error = std::current_exception();
  } catch (const std::exception&) {
    status = 1, error = std::current_exception();
  }
  const int worst = broadcast_status(mpi(), status);
  if (error) {
    g_agreed = true;
    std::rethrow_exception(error);
  }
  if (worst != 0) throw QuietExit{worst};
}

bool error_agreed() { return g_agreed; }

void require_one_process(const std::string& command) {
  if (mpi().size() > 1) {
    throw UsageError(fmt::format("mnist {}: runs in one process; under mpirun only train and compare use several "
                                 "ranks",
                                 command));
  }
}

namespace {
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) {
  if (g_stop_signal != 0) std::_Exit(128 + sig);
  g_stop_signal = sig;
}
}  // namespace

void catch_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
}

int stop_signal() { return g_stop_signal; }

}  // namespace mnist::cli
