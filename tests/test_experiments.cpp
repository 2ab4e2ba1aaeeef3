// Experiments: the grid and its summary, the smoothing, the learning-rate
// range test, and the plots.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stb_image.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "experiments/charts.h"
#include "experiments/grid.h"
#include "experiments/runner.h"
#include "experiments/summary.h"
#include "experiments/lr_find.h"
#include "train/run.h"
#include "helpers.h"
#include "io/file.h"
#include "nn/models.h"
#include "plot/figure.h"
#include "util/error.h"

namespace mnist {
namespace {

using test::TempDir;

const DataSplits& mnist_data() {
  static const DataSplits data = load_data(test::mnist_data_dir());
  return data;
}

CompareSpec small_spec() {
  CompareSpec spec;
  spec.base.model = "linear";
  spec.base.epochs = 2;
  spec.optimizers = {"sgd", "adam"};
  spec.lrs = {0.1, 0.01};
  spec.seeds = 2;
  return spec;
}

template <class F>
void expect_usage_error(F f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << fragment;
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Grid, IsOptimizerMajorWithOneRunPerSeed) {
  const auto runs = plan_grid(small_spec());
  ASSERT_EQ(runs.size(), 8u);
  EXPECT_EQ(runs[0].name, "sgd_lr0.1_seed0");
  EXPECT_EQ(runs[1].name, "sgd_lr0.1_seed1");
  EXPECT_EQ(runs[2].name, "sgd_lr0.01_seed0");
  EXPECT_EQ(runs[7].name, "adam_lr0.01_seed1");
  EXPECT_EQ(runs[7].config.optimizer.name, "adam");
  EXPECT_EQ(*runs[7].config.optimizer.lr, 0.01);
  EXPECT_EQ(runs[7].config.seed, 1u);
  EXPECT_EQ(runs[7].config.model, "linear");
}

TEST(Grid, WithoutLearningRatesEachOptimizerTakesItsDefault) {
  CompareSpec spec = small_spec();
  spec.lrs.clear();
  spec.seeds = 1;
  const auto runs = plan_grid(spec);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].lr, 0.01);   // sgd
  EXPECT_EQ(runs[1].lr, 0.001);  // adam
}

TEST(Grid, RefusesEmptyUnknownAndRepeatedEntries) {
  auto with = [](auto change) {
    CompareSpec spec = small_spec();
    change(spec);
    return [spec] { plan_grid(spec); };
  };
  expect_usage_error(with([](CompareSpec& s) { s.optimizers.clear(); }), "--optimizers: the list is empty");
  expect_usage_error(with([](CompareSpec& s) { s.optimizers = {"sgd", "adamm"}; }), "unknown optimizer 'adamm'");
  expect_usage_error(with([](CompareSpec& s) { s.optimizers = {"sgd", "sgd"}; }), "'sgd' is listed twice");
  expect_usage_error(with([](CompareSpec& s) { s.lrs = {0.1, -1}; }), "--lrs");
  expect_usage_error(with([](CompareSpec& s) { s.lrs = {0.1, NAN}; }), "--lrs");
  expect_usage_error(with([](CompareSpec& s) { s.lrs = {0.1, 0.1}; }), "0.1 is listed twice");
  expect_usage_error(with([](CompareSpec& s) { s.seeds = 0; }), "--seeds");
  expect_usage_error(with([](CompareSpec& s) { s.base.epochs = 0; }), "--epochs");
  expect_usage_error(with([](CompareSpec& s) { s.base.optimizer.set("momentum", 0.5); }), "--momentum");
}

TEST(Smoothing, IsABiasCorrectedAverageThatIgnoresTheLoggingInterval) {
  // A constant is its own average, from the first point on.
  std::vector<RunRecord::Point> flat;
  for (int64_t s = 0; s < 50; s += 5) flat.push_back({s, 0.7});
  for (double v : smooth_losses(flat, 20)) EXPECT_NEAR(v, 0.7, 1e-15);
  // tau = 1 is no smoothing.
  std::vector<RunRecord::Point> ramp{{0, 3}, {1, 2}, {2, 1}};
  EXPECT_EQ(smooth_losses(ramp, 1), (std::vector<double>{3, 2, 1}));
  // A step from 1 to 0 at step 10 decays as beta^(steps since): the same
  // whether logged every step or every 5.
  const double tau = 8, beta = 1 - 1 / tau;
  std::vector<RunRecord::Point> every, fifth;
  for (int64_t s = 0; s < 40; ++s) {
    every.push_back({s, s < 10 ? 1.0 : 0.0});
    if (s % 5 == 4) fifth.push_back({s, s < 10 ? 1.0 : 0.0});
  }
  const auto a = smooth_losses(every, tau), b = smooth_losses(fifth, tau);
  // After step 9 the average is 1; k steps of zeros later it is
  // beta^k * (1 - beta^10) / (1 - beta^(10 + k)).
  for (int k : {5, 10, 30}) {
    const double expected = std::pow(beta, k) * (1 - std::pow(beta, 10)) / (1 - std::pow(beta, 10 + k));
    EXPECT_NEAR(a[9 + k], expected, 1e-12) << k;
  }
  // Each coarse point stands for the 5 steps it closes; the loss is constant
  // over each of them here, so the two logs agree exactly.
  for (size_t i = 0; i < fifth.size(); ++i) EXPECT_NEAR(b[i], a[5 * i + 4], 1e-12) << i;
}

TEST(Stat, MeanAndSampleStandardDeviation) {
  const Stat s = stat_of({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.sd, std::sqrt(5.0 / 3.0));
  EXPECT_EQ(stat_of({7}).sd, 0);
  EXPECT_EQ(stat_of({}).n, 0);
}

// Trains a small grid, then checks the summary against the run files read
// independently, and that a second call skips every finished run.
TEST(Grid, SummaryAgreesWithTheRunFilesAndRerunsSkipFinishedRuns) {
  TempDir dir;
  DataSplits data = mnist_data();
  data.train = data.train.head(2000);
  CompareSpec spec = small_spec();
  spec.lrs = {0.1, 0.001};
  spec.loss_threshold = 1.2;
  spec.base.log_every = 2;
  const auto runs = plan_grid(spec);
  std::filesystem::create_directories(dir.path() / "runs");
  GridOptions options;
  options.jobs = 2;
  int trained = 0, skipped = 0;
  GridCallbacks callbacks;
  callbacks.on_run_done = [&](const RunSpec&, const RunRecord&, bool was_skipped) {
    ++(was_skipped ? skipped : trained);
  };
  ASSERT_TRUE(run_grid(runs, data, dir.path().string(), options, callbacks));
  EXPECT_EQ(trained, 8);
  std::vector<RunRecord> records;
  for (const auto& run : runs) {
    EXPECT_FALSE(file_exists(run_path(dir.path().string(), run) + ".partial"));
    records.push_back(read_run(run_path(dir.path().string(), run)));
  }
  const auto rows = summarize(runs, records, spec.loss_threshold);
  ASSERT_EQ(rows.size(), 4u);
  for (size_t r = 0; r < rows.size(); ++r) {
    // The two seeds' files, parsed here without read_run.
    std::vector<double> accuracy, loss;
    for (size_t s = 0; s < 2; ++s) {
      std::ifstream in(run_path(dir.path().string(), runs[2 * r + s]));
      double last_epoch_loss = NAN, final_accuracy = NAN;
      int steps = 0;
      for (std::string line; std::getline(in, line);) {
        const auto j = nlohmann::json::parse(line);
        if (j["event"] == "epoch") last_epoch_loss = j["train_loss"];
        if (j["event"] == "final") final_accuracy = j["accuracy"], steps = j["steps"];
      }
      EXPECT_EQ(steps, 40);  // 2 epochs of 20 batches
      accuracy.push_back(final_accuracy);
      loss.push_back(last_epoch_loss);
    }
    EXPECT_EQ(rows[r].runs, 2);
    EXPECT_EQ(rows[r].diverged, 0);
    EXPECT_DOUBLE_EQ(rows[r].accuracy.mean, (accuracy[0] + accuracy[1]) / 2);
    EXPECT_NEAR(rows[r].accuracy.sd, std::abs(accuracy[0] - accuracy[1]) / std::sqrt(2.0), 1e-12);
    EXPECT_DOUBLE_EQ(rows[r].final_loss.mean, (loss[0] + loss[1]) / 2);
  }
  // lr 0.1 learns; lr 0.001 with sgd hardly moves in 40 steps.
  EXPECT_GT(rows[0].accuracy.mean, 0.8);
  EXPECT_LT(rows[1].accuracy.mean, rows[0].accuracy.mean - 0.2);
  // sgd at 0.1 ends near loss 0.95, at 0.001 near 2.25.
  EXPECT_EQ(rows[0].reached, 2);
  EXPECT_GT(rows[0].steps_to_threshold.mean, 1);
  EXPECT_LT(rows[0].steps_to_threshold.mean, 40);
  EXPECT_EQ(rows[1].reached, 0);
  // The CSV carries the same numbers.
  const std::string csv = summary_csv(rows);
  EXPECT_NE(csv.find(fmt::format("sgd,0.1,2,0,{:.4f},{:.4f},{:.6f}", 100 * rows[0].accuracy.mean,
                                 100 * rows[0].accuracy.sd, rows[0].final_loss.mean)),
            std::string::npos)
      << csv;

  trained = skipped = 0;
  ASSERT_TRUE(run_grid(runs, data, dir.path().string(), options, callbacks));
  EXPECT_EQ(trained, 0);
  EXPECT_EQ(skipped, 8);
}

TEST(Grid, ADivergedRunIsRecordedNotFatal) {
  TempDir dir;
  DataSplits data = mnist_data();
  data.train = data.train.head(1000);
  CompareSpec spec;
  spec.base.model = "mlp";
  spec.base.epochs = 3;  // 30 steps: divergence is 20 steps above the line
  spec.optimizers = {"sgd"};
  spec.lrs = {1000};
  const auto runs = plan_grid(spec);
  std::filesystem::create_directories(dir.path() / "runs");
  ASSERT_TRUE(run_grid(runs, data, dir.path().string(), GridOptions{}, GridCallbacks{}));
  const RunRecord rec = read_run(run_path(dir.path().string(), runs[0]));
  EXPECT_TRUE(rec.finished);
  EXPECT_TRUE(rec.diverged);
  EXPECT_GT(rec.seconds, 0);  // the time it trained before diverging
  const auto rows = summarize(runs, {rec}, 0.1);
  EXPECT_EQ(rows[0].diverged, 1);
  EXPECT_EQ(rows[0].accuracy.n, 0);
  EXPECT_NE(summary_markdown(rows, 0.1).find("diverged in 1 of 1 runs"), std::string::npos);
}

// A run of --steps that ends inside an epoch reports that partial epoch's
// mean training loss, not nothing (or zero).
TEST(Grid, ARunOfStepsReportsItsPartialEpochLoss) {
  TempDir dir;
  DataSplits data = mnist_data();
  data.train = data.train.head(1000);
  CompareSpec spec;
  spec.base.model = "linear";
  spec.base.steps = 7;  // 10 batches an epoch
  spec.optimizers = {"adam"};
  const auto runs = plan_grid(spec);
  std::filesystem::create_directories(dir.path() / "runs");
  ASSERT_TRUE(run_grid(runs, data, dir.path().string(), GridOptions{}, GridCallbacks{}));
  const RunRecord rec = read_run(run_path(dir.path().string(), runs[0]));
  EXPECT_TRUE(rec.epochs.empty());
  ASSERT_TRUE(rec.final_train_loss().has_value());
  EXPECT_GT(*rec.final_train_loss(), 0.1);
  EXPECT_LT(*rec.final_train_loss(), std::log(10.0) + 0.5);
  const auto rows = summarize(runs, {rec}, 0.1);
  EXPECT_EQ(rows[0].final_loss.n, 1);
  EXPECT_EQ(rows[0].final_loss.mean, *rec.final_train_loss());
}

TEST(Grid, ReadRunNamesTheFileAndLineOfABadRecord) {
  TempDir dir;
  write_file_atomic(dir.file("r.jsonl"), "{\"event\":\"step\",\"step\":0,\"loss\":1}\n{\"event\":\"step\"}\n");
  try {
    read_run(dir.file("r.jsonl"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("r.jsonl:2: not a metrics record"), std::string::npos) << e.what();
  }
}

// A synthetic range test: the loss falls fastest at lr 1e-2 (a logistic
// curve in log lr), bottoms out at 1e-1 and then rises.
TEST(LrFind, SuggestsTheSteepestFallBeforeTheMinimum) {
  LrFindResult r;
  for (int i = 0; i < 101; ++i) {
    const double log_lr = -6 + 6.0 * i / 100;  // 1e-6 .. 1
    const double fall = 2.0 / (1 + std::exp(-4 * (log_lr + 2)));
    const double rise = log_lr > -1 ? 3 * (log_lr + 1) : 0;
    const double loss = 2.5 - fall + rise;
    r.points.push_back({std::pow(10.0, log_lr), loss, loss});
  }
  suggest_lr(r);
  EXPECT_EQ(r.warning, "");
  EXPECT_NEAR(std::log10(r.suggested_lr), -2, 0.06 + 1e-9);
  EXPECT_NEAR(std::log10(r.min_loss_lr_div10), -2, 0.06 + 1e-9);  // minimum at 1e-1
}

// A trained model: the loss only wobbles, then rises. Its steepest "fall"
// is noise, and the result says so; a real fall of the same noise is not
// flagged.
TEST(LrFind, WarnsWhenTheLossHardlyFallsBeforeRising) {
  auto curve = [](double drop) {
    LrFindResult r;
    double average = 0;
    for (int i = 0; i < 100; ++i) {
      const double log_lr = -6 + 6.0 * i / 99;
      // A slight drift down (so the lowest point is not among the first),
      // the drop if any, and the blow-up past lr 0.1.
      const double trend = 0.15 - 0.005 * std::min(i, 82) / 82.0 - drop / (1 + std::exp(-4 * (log_lr + 2))) +
                           (log_lr > -1 ? 2 * (log_lr + 1) : 0);
      const double loss = trend + 0.04 * std::sin(7.0 * i);  // batch-to-batch noise
      average = 0.98 * average + 0.02 * loss;
      r.points.push_back({std::pow(10.0, log_lr), loss, average / (1 - std::pow(0.98, i + 1))});
    }
    suggest_lr(r);
    return r;
  };
  EXPECT_NE(curve(0).warning.find("fell by only"), std::string::npos) << curve(0).warning;
  EXPECT_EQ(curve(0.1).warning, "");
}

TEST(LrFind, WarnsWhenTheLossOnlyRisesOrStillFalls) {
  LrFindResult rising;
  rising.stop_reason = "loss exceeded 4x its minimum";
  for (int i = 0; i < 30; ++i) rising.points.push_back({std::pow(10.0, i - 20), 1.0 + i, 1.0 + i});
  suggest_lr(rising);
  EXPECT_NE(rising.warning.find("smaller --start-lr"), std::string::npos) << rising.warning;
  LrFindResult falling;
  falling.stop_reason = "end_lr reached";
  for (int i = 0; i < 30; ++i) falling.points.push_back({std::pow(10.0, i - 20), 31.0 - i, 31.0 - i});
  suggest_lr(falling);
  EXPECT_NE(falling.warning.find("raise --end-lr"), std::string::npos) << falling.warning;
  // Too few points to judge at all.
  LrFindResult short_run;
  for (int i = 0; i < 4; ++i) short_run.points.push_back({std::pow(10.0, i), 1.0, 1.0});
  EXPECT_THROW(suggest_lr(short_run), Error);
}

TEST(LrFind, RampsExponentiallyFromStartToEnd) {
  LrFindConfig c;
  c.start_lr = 1e-6, c.end_lr = 1, c.steps = 7;
  EXPECT_DOUBLE_EQ(lr_find_rate(c, 0), 1e-6);
  EXPECT_NEAR(lr_find_rate(c, 3), 1e-3, 1e-15);
  EXPECT_DOUBLE_EQ(lr_find_rate(c, 6), 1);
  c.end_lr = 1e-7;
  EXPECT_THROW(c.check(), UsageError);
}

// Plain SGD on softmax regression: which learning rates train well is found
// here by brute force (300 steps at each half-decade from 1e-4 to 10, the
// same budget as the range test); the suggestion must fall among them. The
// test model is a copy: the caller's weights are untouched, and a second
// call gives the same answer.
TEST(LrFind, SuggestionOnALinearModelFallsInTheRangeThatTrainsWell) {
  const DataSplits& data = mnist_data();
  Network<float> model = make_network<float>("linear", {1, 28, 28}, kNumClasses);
  model.init(3);
  const std::vector<float> before(model.params().begin(), model.params().end());
  OptimizerConfig sgd;
  LrFindConfig config;
  const LrFindResult r = lr_find(model, sgd, data, config, 2);
  EXPECT_EQ(std::vector<float>(model.params().begin(), model.params().end()), before);
  const LrFindResult again = lr_find(model, sgd, data, config, 2);
  EXPECT_EQ(again.suggested_lr, r.suggested_lr);
  EXPECT_EQ(again.points.size(), r.points.size());

  // The loss of the last 50 steps of a 300-step run at each rate.
  std::vector<std::pair<double, double>> sweep;
  double best = INFINITY;
  for (int k = 0; k <= 10; ++k) {
    const double lr = std::pow(10.0, -4 + 0.5 * k);
    TrainConfig tc;
    tc.model = "linear";
    tc.optimizer.lr = lr;
    tc.steps = 300;
    RunPlan plan = plan_new_run(tc, "", 2);
    plan.options.evaluate_epochs = false;
    plan.options.stop_on_divergence = false;
    TrainingRun run(std::move(plan), borrow(data), model);
    double tail = 0;
    RunEvents events;
    events.on_batch = [&](const StepEvent& e) {
      if (e.step >= 250) tail += (std::isfinite(e.loss) ? e.loss : 1e9) / 50;
    };
    run.run(events);
    sweep.emplace_back(lr, tail);
    best = std::min(best, tail);
  }
  double lo = INFINITY, hi = 0;
  std::string table;
  for (const auto& [lr, loss] : sweep) {
    table += fmt::format(" {:g}:{:.3f}", lr, loss);
    if (loss <= 1.25 * best) lo = std::min(lo, lr), hi = std::max(hi, lr);
  }
  // The good range spans at least a decade, well inside the ramp.
  ASSERT_GE(hi / lo, 10 - 1e-9) << table;
  EXPECT_GE(r.suggested_lr, lo) << table;
  EXPECT_LE(r.suggested_lr, hi) << table;
  EXPECT_GE(r.min_loss_lr_div10, lo / std::sqrt(10.0)) << table;  // the cautious choice may sit half a decade lower
  EXPECT_LE(r.min_loss_lr_div10, hi) << table;
}

TEST(Plot, WritesPngAndSvgOfTheRequestedSize) {
  TempDir dir;
  plot::Figure f;
  f.title = "test figure";
  f.width = 640, f.height = 480;
  f.columns = 2;
  for (int p = 0; p < 2; ++p) {
    plot::Panel panel;
    panel.title = fmt::format("panel {}", p);
    panel.x_label = "x", panel.y_label = "y";
    panel.log_y = p == 1;
    plot::Series s;
    s.label = "line";
    for (int i = 1; i <= 20; ++i) s.x.push_back(i), s.y.push_back(1.0 / i);
    s.y_err.assign(s.x.size(), 0.01);
    panel.series.push_back(s);
    panel.marks.push_back({5, "mark", 1});
    f.panels.push_back(panel);
  }
  plot::save(f, dir.file("fig"));
  int w = 0, h = 0, channels = 0;
  unsigned char* pixels = stbi_load(dir.file("fig.png").c_str(), &w, &h, &channels, 3);
  ASSERT_NE(pixels, nullptr) << stbi_failure_reason();
  EXPECT_EQ(w, 640);
  EXPECT_EQ(h, 480);
  // Not blank: the corner is the white background, and there is ink.
  EXPECT_EQ(pixels[0], 255);
  size_t dark = 0;
  for (int i = 0; i < w * h; ++i) dark += pixels[3 * i] < 100 && pixels[3 * i + 1] < 100 && pixels[3 * i + 2] < 100;
  EXPECT_GT(dark, 1000u);
  stbi_image_free(pixels);
  const std::string svg = read_file(dir.file("fig.svg"));
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("width=\"640pt\" height=\"480pt\""), std::string::npos);
  // Only the two outputs: no scratch files left.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()), 2);
}

TEST(Plot, ComparisonFiguresHaveAPanelPerLearningRate) {
  CompareSpec spec = small_spec();
  spec.lrs = {0.1, 0.01, 0.001};
  const auto runs = plan_grid(spec);
  std::vector<RunRecord> records(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    for (int64_t s = 0; s < 30; ++s) records[i].losses.push_back({s, 2.3 / (1 + 0.1 * s * runs[i].lr)});
    records[i].epochs.push_back({0, 1.0, 0.9, 0.3, 1.0});
    records[i].test_accuracy = 0.9;
    records[i].steps = 30;
    records[i].finished = true;
  }
  const plot::Figure loss = loss_figure(runs, records, true, "test");
  ASSERT_EQ(loss.panels.size(), 3u);
  EXPECT_EQ(loss.panels[0].title, "learning rate 0.1");
  // Per panel: a raw and a smoothed line per run; one legend for the figure,
  // an entry per optimizer.
  EXPECT_EQ(loss.panels[0].series.size(), 8u);
  ASSERT_EQ(loss.legend.size(), 2u);
  EXPECT_EQ(loss.legend[1].label, "adam");
  EXPECT_EQ(loss.legend[1].color, 1);
  const plot::Figure acc = sensitivity_figure(summarize(runs, records, 0.1), "test");
  ASSERT_EQ(acc.panels.size(), 2u);  // all runs, and a close-up of the best
  EXPECT_TRUE(acc.panels[0].log_x);
  EXPECT_EQ(acc.panels[1].y_range, (std::pair{87.0, 90.5}));
  // A line per optimizer, sorted by lr, and a star where each ran at its default.
  ASSERT_EQ(acc.panels[0].series.size(), 4u);
  EXPECT_EQ(acc.panels[0].series[0].x, (std::vector<double>{0.001, 0.01, 0.1}));
  EXPECT_EQ(acc.panels[0].series[2].x, (std::vector<double>{0.01}));       // sgd's default
  EXPECT_EQ(acc.panels[0].series[3].x, (std::vector<double>{0.001}));      // adam's
  ASSERT_EQ(acc.legend.size(), 2u);
}

}  // namespace
}  // namespace mnist
