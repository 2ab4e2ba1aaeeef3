// mnist convert: write the course's mnist.json.gz from IDX data.
#include <fmt/format.h>

#include "cli/common.h"
#include "data/course_json.h"
#include "io/file.h"
#include "io/gzip.h"
#include "util/error.h"

namespace mnist::cli {

namespace {

struct ConvertArgs {
  std::string data, out = "mnist.json.gz";
  int valid = 10000;
};

int run_convert(const ConvertArgs& args) {
  check_output(args.out, OutputUse::Stream);
  const DataSplits data = load_data(args.data);
  if (!data.train.values.empty()) throw UsageError("--data: convert reads IDX folders, not course JSON");
  if (args.valid < 1) throw UsageError(fmt::format("--valid: must be at least 1, got {}", args.valid));
  if (args.valid >= data.train.count) {
    throw UsageError(fmt::format("--valid: {} leaves no training samples (the data has {})", args.valid,
                                 data.train.count));
  }
  // The course's split: the last `valid` training samples are held out.
  const int train_count = data.train.count - args.valid;
  ImageSet train = data.train.head(train_count), valid;
  valid.count = args.valid;
  valid.rows = data.train.rows;
  valid.cols = data.train.cols;
  const size_t at = static_cast<size_t>(train_count) * data.train.image_size();
  valid.pixels.assign(data.train.pixels.begin() + at, data.train.pixels.end());
  valid.labels.assign(data.train.labels.begin() + train_count, data.train.labels.end());
  const std::string text = course_json_text(train, valid, data.test, data.scaling);
  if (text.size() >= (size_t{1} << 32) - 1) {
    throw Error(fmt::format("{}: the JSON text would be {} MiB, more than the 4 GiB the loader accepts", args.out,
                            text.size() >> 20));
  }
  write_output(args.out, gzip_compress(text), OutputUse::Stream);
  // With --out -, the data is standard output: the report goes to stderr.
  fmt::print(args.out == "-" ? stderr : stdout, "wrote {} (train {}, valid {}, eval {} images)\n", args.out, train.count, valid.count,
             data.test.count);
  return 0;
}

}  // namespace

Command add_convert(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  auto* cmd = app.add_subcommand("convert", "Write the course's mnist.json.gz from IDX data");
  cmd->footer("Example:\n  mnist convert --data data/mnist --out mnist.json.gz\n"
              "  mnist train --data mnist.json.gz");
  add_data_option(cmd, args->data);
  cmd->add_option("--out", args->out, "Output file (gzipped JSON [train, valid, eval])")->capture_default_str();
  cmd->add_option("--valid", args->valid, "Training samples held out as the valid split")
      ->capture_default_str();
  return {cmd, [args] { return run_convert(*args); }};
}

}  // namespace mnist::cli
