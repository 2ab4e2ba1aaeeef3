// mnist: train, evaluate and run handwritten-digit recognizers.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <new>

#include "cli/common.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace mnist;  // (BLAS is made single-threaded when the library loads: kernels/blas.cpp)
  CLI::App app{
      "Train and run handwritten-digit recognizers (MNIST, Fashion-MNIST, any IDX data), and see\n"
      "how optimization algorithms and learning rates shape training.\n\n"
      "Example: mnist train --optimizer adam --lr 0.001 --save adam.safetensors",
      "mnist"};
  app.set_version_flag("--version", "mnist 0.1.0");
  app.require_subcommand(1);
  const cli::Command commands[] = {cli::add_train(app), cli::add_eval(app), cli::add_predict(app),
                                   cli::add_convert(app), cli::add_compare(app), cli::add_lr_find(app),
                                   cli::add_trajectories(app), cli::add_serve(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 2;
  }
  try {
    for (const auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
    return 2;
  } catch (const UsageError& e) {
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 2;
  } catch (const Error& e) {
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "mnist: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mnist: {}\n", e.what());
    return 1;
  }
}
