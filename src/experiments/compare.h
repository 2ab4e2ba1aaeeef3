#pragma once
// A comparison's folder, as every front end (the CLI, MPI ranks, the web
// lab) writes and reads it:
//   OUT/compare.json     the shared settings, so a rerun with others is refused
//   OUT/runs/NAME.jsonl  each run's metrics (NAME.jsonl.partial while it trains)
//   OUT/summary.csv, OUT/summary.md        the table, from the run files alone
//   OUT/timing.csv                         each cell's seconds per run
//   OUT/loss.{png,svg}, OUT/sensitivity.{png,svg}   the figures
#include <string>
#include <vector>

#include "data/dataset.h"
#include "experiments/grid.h"

namespace mnist {

// The files a finished comparison has besides runs/.
const std::vector<std::string>& compare_output_files();

// Creates OUT and OUT/runs, checks that every output can be written, and
// locks the folder for this process (two comparisons in one folder would
// train the same runs into the same files). UsageError or Error naming --out.
void prepare_compare_folder(const std::string& out);

// Writes OUT/compare.json, or refuses (UsageError naming --out and each
// difference) when it holds other settings.
void check_compare_settings(const std::string& out, const std::string& settings);

// The grid's data: loaded once, cut to --train-samples (recorded back in
// spec), checked to fit the model before any run.
DataSplits load_compare_data(CompareSpec& spec);

// The one-line description of the grid used in titles ("cnn on 60000
// samples, batch 100, 2 epochs, 3 seeds").
std::string compare_subtitle(const CompareSpec& spec, int samples);

// The summary and the figures, from the run files. Returns the Markdown
// table.
std::string write_compare_outputs(const std::string& out, const CompareSpec& spec, const std::vector<RunSpec>& runs,
                                  int samples);

}  // namespace mnist
