// mnist serve: the web lab (docs/web.md).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cli/common.h"
#include "io/file.h"
#include "web/server.h"

namespace mnist::cli {

namespace {

struct ServeArgs {
  LabOptions lab;
  std::string host = "127.0.0.1";
  int port = 8080;
  CLI::Option* model_opt = nullptr;
};

int run_serve(ServeArgs& args) {
  if (args.model_opt->count() == 0 && file_exists("mnist.safetensors")) args.lab.model = "mnist.safetensors";
  if (args.lab.max_runs < 1 || args.lab.max_runs > 64) {
    throw UsageError(fmt::format("--max-runs: must be 1 to 64, got {}", args.lab.max_runs));
  }
  Lab lab(args.lab);
  LabServer server(lab);
  const int port = server.bind(args.host, args.port);
  fmt::print("serving the lab on http://{}:{} (Ctrl-C stops)\n", args.host, port);
  std::fflush(stdout);
  // Ctrl-C or SIGTERM: stop serving, then the runs (saved where they are).
  catch_stop_signals();
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done && stop_signal() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server.stop();
  });
  server.listen();
  done = true;
  watcher.join();
  fmt::print("stopped\n");
  return stop_signal() ? 128 + stop_signal() : 0;
}

}  // namespace

Command add_serve(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "The web lab: draw a digit, race optimizers live, browse experiments");
  cmd->footer(
      "Open the address it prints in a browser. The page uses the JSON API of docs/web.md,\n"
      "which scripts can use too. Examples:\n"
      "  mnist serve\n"
      "  mnist serve --model mnist.safetensors --runs lab --port 8080");
  args->model_opt =
      cmd->add_option("--model", args->lab.model, "The model Draw starts with (default: mnist.safetensors if it exists)");
  cmd->add_option("--runs", args->lab.runs, "Folder for the runs started from the page; its compare folders are shown")
      ->capture_default_str();
  cmd->add_option("--host", args->host, "Address to listen on (only this machine by default)")->capture_default_str();
  cmd->add_option("--port", args->port, "Port (0: any free one)")->capture_default_str();
  add_data_option(cmd, args->lab.data);
  cmd->add_option("--max-runs", args->lab.max_runs, "Runs training at once")->capture_default_str();
  add_threads_option(cmd, args->lab.threads);
  return {cmd, [args] { return run_serve(*args); }};
}

}  // namespace mnist::cli
