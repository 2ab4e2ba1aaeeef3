// mnist: train, evaluate and run handwritten-digit recognizers.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <new>
#include <string>
#include <vector>

#include "cli/common.h"
#include "util/error.h"

namespace {

// An error's line: under mpirun with several ranks, naming the rank.
void print_error(const char* what) {
  const mnist::MpiSession& mpi = mnist::cli::mpi();
  if (mpi.size() > 1) {
    fmt::print(stderr, "mnist: rank {} of {}: {}\n", mpi.rank(), mpi.size(), what);
  } else {
    fmt::print(stderr, "mnist: {}\n", what);
  }
}

// A runtime error on one rank ends the whole job (mpirun then stops the
// others); one that every rank agreed on, or a usage error, which every
// rank meets alike, just exits.
int fail(int code, const char* what, bool usage) {
  mnist::MpiSession& mpi = mnist::cli::mpi();
  if (!usage || mpi.root()) print_error(what);
  if (mpi.size() > 1 && !usage && !mnist::cli::error_agreed()) mpi.abort(code);
  return code;
}

// Edits (insertions, deletions, substitutions) that turn a into b.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "'trian' is not a command; did you mean 'train'?" when the first argument
// is a near miss (at most two edits) of a subcommand's name, else "".
std::string suggestion(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return "";
  const std::string word = argv[1];
  std::string best;
  size_t best_distance = 3;
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == word) return "";
    const size_t d = edit_distance(word, sub->get_name());
    if (d < best_distance) best = sub->get_name(), best_distance = d;
  }
  if (best.empty()) return "";
  return fmt::format("'{}' is not a command; did you mean '{}'? (mnist --help lists them)", word, best);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mnist;  // (BLAS is made single-threaded when the library loads: kernels/blas.cpp)
  MpiSession session(&argc, &argv);
  cli::set_mpi(session);
  cli::set_arguments(argc, argv);
  CLI::App app{
      "Train and run handwritten-digit recognizers (MNIST, Fashion-MNIST, any IDX data), and see\n"
      "how optimization algorithms and learning rates shape training.\n\n"
      "Example: mnist train --optimizer adam --lr 0.001 --save adam.safetensors",
      "mnist"};
  app.set_version_flag("--version", "mnist 2.0.0");
  app.require_subcommand(1);
  const cli::Command commands[] = {cli::add_train(app),   cli::add_eval(app),    cli::add_predict(app),
                                   cli::add_convert(app), cli::add_compare(app), cli::add_lr_find(app),
                                   cli::add_trajectories(app), cli::add_serve(app), cli::add_export(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return session.root() ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    const std::string hint = suggestion(app, argc, argv);
    return fail(2, hint.empty() ? e.what() : hint.c_str(), true);
  }
  try {
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 2;
  } catch (const cli::QuietExit& e) {
    return e.code;
  } catch (const UsageError& e) {
    return fail(2, e.what(), true);
  } catch (const Error& e) {
    return fail(1, e.what(), false);
  } catch (const std::bad_alloc&) {
    return fail(1, "out of memory", false);
  } catch (const std::exception& e) {
    return fail(1, e.what(), false);
  }
}
