// mnist: train, evaluate and run handwritten-digit recognizers.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <new>

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
    return fail(2, e.what(), true);
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
