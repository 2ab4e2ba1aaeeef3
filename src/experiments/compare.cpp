#include "experiments/compare.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "experiments/charts.h"
#include "experiments/runner.h"
#include "experiments/summary.h"
#include "io/file.h"
#include "train/run.h"
#include "util/error.h"

namespace mnist {

const std::vector<std::string>& compare_output_files() {
  static const std::vector<std::string> files = {"summary.csv", "summary.md", "timing.csv", "loss.png",
                                                 "loss.svg",    "sensitivity.png", "sensitivity.svg"};
  return files;
}

void prepare_compare_folder(const std::string& out) {
  namespace fs = std::filesystem;
  if (out.empty()) throw UsageError("--out: must name a folder");
  if (out == "-") throw UsageError("--out: names a folder of results, not standard output");
  std::error_code ec;
  const auto status = fs::status(out, ec);  // follows links: a link to a folder is a folder
  if (!ec && fs::exists(status) && !fs::is_directory(status)) {
    throw UsageError(fmt::format("--out {}: is not a folder (it names a folder of results)", out));
  }
  const fs::path dir(out);
  fs::create_directories(dir / "runs", ec);
  if (ec) throw Error(fmt::format("--out {}: cannot create the folder: {}", out, ec.message()));
  check_output((dir / "runs" / "probe").string());
  for (const std::string& name : compare_output_files()) check_output((dir / name).string());
  const std::string lock = (dir / ".lock").string();
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // held until the process exits
  if (fd < 0) throw Error(fmt::format("{}: cannot open: {}", lock, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    throw Error(fmt::format("--out {}: another mnist compare is using this folder", out));
  }
}

void check_compare_settings(const std::string& out, const std::string& settings) {
  const std::string path = (std::filesystem::path(out) / "compare.json").string();
  if (file_exists(path)) {
    const auto differences = settings_differences(read_file(path), settings);
    if (!differences.empty()) {
      std::string list;
      for (const auto& d : differences) list += (list.empty() ? "" : "; ") + d;
      throw UsageError(
          fmt::format("--out {}: holds runs made with other settings: {}; give another --out, or delete "
                      "the folder to start over",
                      out, list));
    }
    return;
  }
  write_output(path, settings, OutputUse::File);
}

DataSplits load_compare_data(CompareSpec& spec) {
  DataSplits data = load_run_data(spec.base.data, spec.train_samples);
  spec.train_samples = data.train.count;
  new_network(spec.base.model, 0, data, spec.base.data);  // the images fit the model, before any run
  return data;
}

std::string compare_subtitle(const CompareSpec& spec, int samples) {
  return fmt::format("{} on {} samples, batch {}, {} epoch{}, {} seed{}", spec.base.model, samples,
                     spec.base.batch_size, spec.base.epochs, spec.base.epochs == 1 ? "" : "s", spec.seeds,
                     spec.seeds == 1 ? "" : "s");
}

std::string write_compare_outputs(const std::string& out, const CompareSpec& spec, const std::vector<RunSpec>& runs,
                                  int samples) {
  std::vector<RunRecord> records;
  for (const RunSpec& run : runs) records.push_back(read_run(run_path(out, run)));
  const auto rows = summarize(runs, records, spec.loss_threshold);
  const std::filesystem::path dir(out);
  write_output((dir / "summary.csv").string(), summary_csv(rows), OutputUse::File);
  write_output((dir / "timing.csv").string(), timing_csv(rows), OutputUse::File);
  const std::string table = summary_markdown(rows, spec.loss_threshold);
  const std::string subtitle = compare_subtitle(spec, samples);
  const bool swept = !spec.lrs.empty() || !spec.lr_factors.empty();
  write_output((dir / "summary.md").string(),
               fmt::format("# {}\n\n{}\n![Test accuracy against learning rate](sensitivity.png)\n\n"
                           "![Training loss](loss.png)\n\nThe figures also as SVG: [sensitivity.svg](sensitivity.svg), "
                           "[loss.svg](loss.svg). Each run's metrics: runs/*.jsonl; their times: timing.csv.\n",
                           subtitle, table),
               OutputUse::File);
  plot::save(loss_figure(runs, records, swept, subtitle), (dir / "loss").string());
  plot::save(sensitivity_figure(rows, subtitle), (dir / "sensitivity").string());
  return table;
}

}  // namespace mnist
