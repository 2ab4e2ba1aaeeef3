// The optimizers beyond the course's, step by step against fixed values
// (tests/fixtures/optim_field.json, written by tools/make_field_fixtures.py):
// PyTorch 1.13's where it has the optimizer, else the float64 references of
// tools/optim_references.py, which cite their sources. Tensors of 2 and 4
// dimensions and a bias, so that Muon's and Adafactor's matrix views and
// every bias exemption are exercised.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace mnist {
namespace {

using nlohmann::json;

json load_fixture() {
  std::ifstream in(std::string(MNIST_FIXTURES) + "/optim_field.json");
  EXPECT_TRUE(in.good()) << "missing fixture; run tools/make_field_fixtures.py";
  return json::parse(in);
}

std::vector<ParamTensor> fixture_tensors(const json& fixture) {
  std::vector<ParamTensor> tensors;
  size_t offset = 0;
  for (const json& t : fixture["tensors"]) {
    ParamTensor p{t["name"], t["shape"].get<std::vector<int64_t>>(), offset, 1, t["bias"]};
    for (int64_t d : p.shape) p.size *= static_cast<size_t>(d);
    offset += p.size;
    tensors.push_back(p);
  }
  return tensors;
}

// The case's optimizer; the references' warmup_steps is our schedule's.
struct Case {
  OptimizerConfig config;
  ScheduleConfig schedule;
};
Case case_of(const json& c) {
  Case out;
  out.config.name = c["optimizer"];
  out.config.lr = c["lr"].get<double>();
  json options = c["options"];
  if (options.contains("warmup_steps")) {
    out.schedule.warmup_steps = options["warmup_steps"];
    options.erase("warmup_steps");
  }
  out.config.hypers = hypers_from_json(options, optimizer_row(out.config.name).hypers, {});
  out.config.decay_biases = c.value("decay_biases", true);
  return out;
}

// PyTorch's float32 results to 1e-6 as the first fixtures; the float64
// references to 2e-5, the drift of float32 arithmetic over 8 steps.
double tolerance(const json& c, double want) {
  const bool torch = c["reference"].get<std::string>().rfind("torch.", 0) == 0;
  return torch ? 1e-6 * std::abs(want) + 1e-7 : 2e-5 * std::abs(want) + 2e-6;
}

TEST(FieldFixtures, EveryNewOptimizerFollowsItsReferenceStepByStep) {
  const json fixture = load_fixture();
  const auto tensors = fixture_tensors(fixture);
  std::set<std::string> covered;
  for (const json& c : fixture["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const Case k = case_of(c);
    covered.insert(k.config.name);
    auto optimizer = make_optimizer(k.config, tensors);
    const auto schedule = make_schedule(k.schedule, *k.config.lr, 1, 100);
    std::vector<float> params = fixture["params"].get<std::vector<float>>(), at(params.size());
    for (size_t step = 0; step < c["after"].size(); ++step) {
      const auto grads = fixture["grads"][step].get<std::vector<float>>();
      optimizer->step(params, grads, schedule->lr(static_cast<int64_t>(step)));
      const auto want = c["after"][step].get<std::vector<double>>();
      for (size_t i = 0; i < params.size(); ++i) {
        ASSERT_NEAR(params[i], want[i], tolerance(c, want[i])) << "step " << step << " value " << i;
      }
      if (!c.contains("eval_after")) continue;
      ASSERT_TRUE(optimizer->has_eval_point());
      optimizer->eval_point(params, at);
      const auto want_eval = c["eval_after"][step].get<std::vector<double>>();
      for (size_t i = 0; i < at.size(); ++i) {
        ASSERT_NEAR(at[i], want_eval[i], tolerance(c, want_eval[i])) << "average, step " << step << " value " << i;
      }
    }
  }
  const std::set<std::string> first_fixtures = {"sgd", "momentum", "adagrad", "rmsprop", "adadelta", "adam", "adamw"};
  for (const std::string& name : optimizer_names()) {
    if (first_fixtures.count(name) == 0 && name != "lbfgs") {
      EXPECT_TRUE(covered.count(name)) << name << " has no case";
    }
  }
}

// f(p) = sum 0.5 a (p - c)^2 + 0.05 (p - c)^4 in float32, as the fixture.
struct Quartic {
  std::vector<float> a, c;
  float operator()(const std::vector<float>& p, std::vector<float>& g) const {
    float f = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      const float e = p[i] - c[i], q = e * e;
      f += (0.5f * a[i]) * q + (0.05f * q) * q;
      g[i] = (a[i] + 0.2f * q) * e;
    }
    return f;
  }
};

TEST(FieldFixtures, LbfgsFollowsPyTorchWithItsClosure) {
  const json fixture = load_fixture();
  const json& lbfgs = fixture["lbfgs"];
  const Quartic f{lbfgs["a"].get<std::vector<float>>(), lbfgs["c"].get<std::vector<float>>()};
  const auto tensors = fixture_tensors(fixture);
  ASSERT_GE(lbfgs["cases"].size(), 3u);
  for (const json& c : lbfgs["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    OptimizerConfig config;
    config.name = "lbfgs";
    config.lr = c["lr"].get<double>();
    config.hypers = hypers_from_json(c["options"], optimizer_row("lbfgs").hypers, {});
    auto optimizer = make_optimizer(config, tensors);
    std::vector<float> params = fixture["params"].get<std::vector<float>>(), grads(params.size());
    for (size_t step = 0; step < c["after"].size(); ++step) {
      const Closure closure{f(params, grads), [&] { return static_cast<double>(f(params, grads)); }};
      EXPECT_NEAR(closure.loss, c["losses"][step].get<double>(), 1e-5 * std::abs(closure.loss) + 1e-9) << "step " << step;
      optimizer->step(params, grads, *config.lr, &closure);
      const auto want = c["after"][step].get<std::vector<double>>();
      for (size_t i = 0; i < params.size(); ++i) {
        ASSERT_NEAR(params[i], want[i], 1e-5 * std::abs(want[i]) + 1e-6) << "step " << step << " value " << i;
      }
    }
  }
}

}  // namespace
}  // namespace mnist

// The remaining tests train on real MNIST through the run layer.
#include "checkpoint/checkpoint.h"
#include "data/dataset.h"
#include "helpers.h"
#include "io/safetensors.h"
#include "train/run.h"

namespace mnist {
namespace {

// The first 500 training images of MNIST: 10 batches of 50 an epoch.
const DataSplits& small_mnist() {
  static const DataSplits data = [] {
    DataSplits d = load_data(test::mnist_data_dir());
    d.train = d.train.head(500);
    d.test = d.test.head(500);
    return d;
  }();
  return data;
}

// A short run of the optimizer at settings where it trains without
// diverging on the linear model.
TrainConfig resume_config(const std::string& optimizer) {
  TrainConfig config;
  config.model = "linear";
  config.optimizer.name = optimizer;
  if (optimizer == "rprop") config.optimizer.lr = 0.001;
  if (optimizer == "lbfgs") {
    config.optimizer.lr = 0.1;
    config.optimizer.set("max_iter", 4);
    config.optimizer.set("history_size", 5);
  }
  if (optimizer == "asgd") config.optimizer.set("t0", 5);  // averaging under way before the stop
  config.epochs = 2;
  config.batch_size = 50;
  config.seed = 3;
  return config;
}

RunStatus train(const RunPlan& plan) {
  TrainingRun run(plan, borrow(small_mnist()));
  return run.run().status;
}

// Every tensor and every optimizer number of two checkpoints, bit for bit.
void expect_same_checkpoints(const std::string& a_path, const std::string& b_path) {
  const SavedModel a = load_model(a_path), b = load_model(b_path);
  ASSERT_EQ(a.file->names(), b.file->names());
  for (const std::string& name : a.file->names()) {
    const auto& shape = a.file->shape(name);
    if (shape.empty()) {  // an I64 count (num_batches_tracked)
      EXPECT_EQ(a.file->int64_scalar(name), b.file->int64_scalar(name)) << name;
      continue;
    }
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::vector<float> x(n), y(n);
    a.file->copy_to(name, shape, x);
    b.file->copy_to(name, shape, y);
    EXPECT_EQ(std::memcmp(x.data(), y.data(), n * sizeof(float)), 0) << name;
  }
  for (const char* key : {"optim.steps", "optim.scalars", "train.epoch", "train.batch"}) {
    EXPECT_EQ(a.metadata.count(key) ? a.metadata.at(key) : "", b.metadata.count(key) ? b.metadata.at(key) : "") << key;
  }
}

TEST(Resume, EveryOptimizerResumesToTheSameBits) {
  for (const std::string& optimizer : optimizer_names()) {
    SCOPED_TRACE(optimizer);
    test::TempDir dir;
    const TrainConfig config = resume_config(optimizer);
    ASSERT_EQ(train(plan_new_run(config, dir.file("full.safetensors"), 1)), RunStatus::Finished);
    // Stopped mid-epoch, then at an epoch's end, then run to the end, on 2 threads.
    ASSERT_EQ(train(plan_new_run(config, dir.file("r.safetensors"), 2, 7)), RunStatus::Stopped);
    ResumeChanges changes;
    changes.threads = 2;
    changes.stop_at = 10;
    ASSERT_EQ(train(plan_resume(dir.file("r.safetensors"), changes)), RunStatus::Stopped);
    changes.stop_at = 0;
    ASSERT_EQ(train(plan_resume(dir.file("r.safetensors"), changes)), RunStatus::Finished);
    expect_same_checkpoints(dir.file("full.safetensors"), dir.file("r.safetensors"));
  }
}

// Batch normalisation (its running statistics), dropout, augmentation (cutout too) and
// label smoothing: a run stopped and resumed on another thread count ends
// with the same bits as one run on one thread.
TEST(Resume, RecipeIngredientsResumeToTheSameBitsOnAnyThreadCount) {
  for (const std::string model : {"speed", "best"}) {
    SCOPED_TRACE(model);
    test::TempDir dir;
    TrainConfig config = resume_config("adam");
    config.model = model;
    config.augment = {12, 0.1, 2, false, 6};
    config.label_smoothing = 0.1;
    config.ema = 0.9;
    // Not best's own rate: a resumed run that fell back to it would differ.
    if (model == "best") config.dropout = 0.2;
    ASSERT_EQ(train(plan_new_run(config, dir.file("full.safetensors"), 1)), RunStatus::Finished);
    ASSERT_EQ(train(plan_new_run(config, dir.file("r.safetensors"), 3, 7)), RunStatus::Stopped);
    ResumeChanges changes;
    changes.threads = 2;
    ASSERT_EQ(train(plan_resume(dir.file("r.safetensors"), changes)), RunStatus::Finished);
    expect_same_checkpoints(dir.file("full.safetensors"), dir.file("r.safetensors"));
    const SavedModel saved = load_model(dir.file("full.safetensors"));
    EXPECT_EQ(saved.file->int64_scalar("bn1.num_batches_tracked"), 20 * kGradChunks);
    EXPECT_NE(saved.network.buffers()[0], 0.0f) << "the running mean has moved";
  }
}

// One epoch of Adam on the small data set, for a recipe model.
TrainConfig one_adam_epoch(const std::string& model) {
  TrainConfig config = resume_config("adam");
  config.model = model;
  config.epochs = 1;
  return config;
}

// --dropout sets the rate of the model's dropout layers: best's own rate
// given explicitly trains the same bits as the default, other rates (0, off,
// and 0.2, other masks) other bits, and the checkpoint records the rate it
// trained with.
TEST(Dropout, TheFlagSetsTheModelsRate) {
  test::TempDir dir;
  TrainConfig config = one_adam_epoch("best");
  ASSERT_EQ(train(plan_new_run(config, dir.file("default.safetensors"), 2)), RunStatus::Finished);
  config.dropout = 0.3;
  ASSERT_EQ(train(plan_new_run(config, dir.file("own.safetensors"), 2)), RunStatus::Finished);
  config.dropout = 0.0;
  ASSERT_EQ(train(plan_new_run(config, dir.file("off.safetensors"), 2)), RunStatus::Finished);
  config.dropout = 0.2;
  ASSERT_EQ(train(plan_new_run(config, dir.file("other.safetensors"), 2)), RunStatus::Finished);
  const SavedModel def = load_model(dir.file("default.safetensors")), own = load_model(dir.file("own.safetensors")),
                   off = load_model(dir.file("off.safetensors")), other = load_model(dir.file("other.safetensors"));
  const size_t bytes = def.network.num_params() * sizeof(float);
  EXPECT_EQ(std::memcmp(def.network.params().data(), own.network.params().data(), bytes), 0);
  EXPECT_NE(std::memcmp(def.network.params().data(), off.network.params().data(), bytes), 0);
  EXPECT_NE(std::memcmp(def.network.params().data(), other.network.params().data(), bytes), 0);
  for (const auto& [model, rate] : {std::pair{&def, "0.3"}, std::pair{&off, "0.0"}, std::pair{&other, "0.2"}}) {
    const std::string& layers = model->metadata.at("layers");
    EXPECT_NE(layers.find(R"({"kind":"dropout","rate":)" + std::string(rate) + "}"), std::string::npos) << layers;
  }
}

// --ema: the saved model is the warmed-up moving average of the weights
// after every step (the starting weights first), computed here from the weights the run
// passes through; the weights trained are those of the same run without it.
TEST(Ema, TheSavedModelIsTheAverageAndTrainingIsUnchanged) {
  test::TempDir dir;
  TrainConfig config = one_adam_epoch("speed");
  ASSERT_EQ(train(plan_new_run(config, dir.file("plain.safetensors"), 2)), RunStatus::Finished);
  config.ema = 0.75;
  TrainingRun run(plan_new_run(config, dir.file("ema.safetensors"), 2), borrow(small_mnist()));
  std::vector<float> average(run.network().params().begin(), run.network().params().end());
  RunEvents events;
  events.on_batch = [&](const StepEvent& e) {
    const auto now = run.network().params();
    const double t = static_cast<double>(e.step);  // 1/10, 2/11, ... then 0.75
    const float d = static_cast<float>(std::min(0.75, (1 + t) / (10 + t))), rest = 1 - d;
    for (size_t i = 0; i < average.size(); ++i) average[i] = d * average[i] + rest * now[i];
  };
  ASSERT_EQ(run.run(events).status, RunStatus::Finished);
  const SavedModel plain = load_model(dir.file("plain.safetensors")), ema = load_model(dir.file("ema.safetensors"));
  for (const ParamTensor& t : plain.network.tensors()) {
    SCOPED_TRACE(t.name);
    std::vector<float> trained(t.size), saved(t.size), live(t.size);
    plain.file->copy_to(t.name, t.shape, trained);
    ema.file->copy_to(t.name, t.shape, saved);
    ema.file->copy_to("optim.live." + t.name, t.shape, live);
    EXPECT_EQ(std::memcmp(trained.data(), live.data(), t.size * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(average.data() + t.offset, saved.data(), t.size * sizeof(float)), 0);
  }
  EXPECT_NE(std::memcmp(plain.network.params().data(), ema.network.params().data(),
                        plain.network.num_params() * sizeof(float)), 0);
  // Its test accuracy is the average's: evaluated again from the file.
  ThreadPool pool(1);
  const EvalResult again = evaluate(ema.network, small_mnist().test, ema.scaling, pool);
  EXPECT_EQ(std::stod(ema.metadata.at("test.accuracy")), again.accuracy());
}

}  // namespace
}  // namespace mnist

#include "experiments/grid.h"
#include "experiments/trajectories.h"
#include "train/config.h"
#include "util/error.h"

namespace mnist {
namespace {

TEST(ScheduleUse, ScheduleFreeTakesOnlyAWarmUpAndRpropNoSchedule) {
  auto refused = [](const std::string& optimizer, const std::string& schedule, int warmup) {
    TrainConfig c;
    c.optimizer.name = optimizer;
    c.schedule.name = schedule;
    c.schedule.warmup_steps = warmup;
    try {
      (void)c.resolved();
      return std::string("accepted");
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
  };
  EXPECT_EQ(refused("sgd-schedulefree", "cosine", 0).rfind("--schedule cosine: sgd-schedulefree is schedule-free", 0), 0u);
  EXPECT_EQ(refused("adamw-schedulefree", "constant", 100), "accepted");  // the reference's warm-up
  EXPECT_EQ(refused("rprop", "constant", 10).rfind("--schedule constant --warmup-steps: rprop", 0), 0u);
  EXPECT_EQ(refused("rprop", "step", 0).rfind("--schedule step: rprop", 0), 0u);
  EXPECT_EQ(refused("prodigy", "cosine", 0), "accepted");
}

TEST(Grid, LearningRateFreeOptimizersAreSweptOverTheirMultiplier) {
  CompareSpec spec;
  spec.optimizers = {"adam", "prodigy", "dog"};
  spec.lr_factors = {0.1, 1};
  const auto runs = plan_grid(spec);
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[0].name, "adam_lr0.0001_seed0");
  EXPECT_DOUBLE_EQ(*runs[1].config.optimizer.lr, 0.001);
  EXPECT_EQ(runs[2].name, "prodigy_d_coef0.1_seed0");
  EXPECT_DOUBLE_EQ(runs[2].config.optimizer.get("d_coef"), 0.1);
  EXPECT_DOUBLE_EQ(*runs[2].config.optimizer.lr, 1.0);  // Prodigy's lr stays 1
  EXPECT_DOUBLE_EQ(runs[2].lr, 0.1);
  EXPECT_EQ(runs[4].name, "dog_lr0.1_seed0");
  EXPECT_DOUBLE_EQ(runs[5].factor, 1.0);
  spec.lrs = {0.01};
  EXPECT_THROW(plan_grid(spec), UsageError);  // --lrs and --lr-factors together
}

TEST(Trajectories, EveryOptimizerStartsTogetherAndMostReachTheQuadraticsMinimum) {
  for (const TestFunction& f : test_functions()) {
    SCOPED_TRACE(f.name);
    TrajectoryOptions options;
    options.steps = 100;
    const auto paths = run_trajectories(f, optimizer_names(), options);
    ASSERT_EQ(paths.size(), optimizer_names().size());
    for (const Trajectory& t : paths) {
      ASSERT_FALSE(t.points.empty()) << t.optimizer;
      EXPECT_EQ(t.points.front(), f.start) << t.optimizer;
      EXPECT_EQ(t.points.size(), t.losses.size()) << t.optimizer;
      EXPECT_GT(t.lr, 0) << t.optimizer;
    }
  }
  // The bowl: from f = 5.3, every method with a tuned rate gets below 1e-2.
  const TestFunction& bowl = test_function("quadratic");
  TrajectoryOptions options;
  options.steps = 200;
  for (const Trajectory& t : run_trajectories(bowl, {"sgd", "momentum", "adam", "rmsprop", "lbfgs"}, options)) {
    EXPECT_LT(t.losses.back(), 1e-2 * t.losses.front()) << t.optimizer << " at lr " << t.lr;
    EXPECT_FALSE(t.diverged) << t.optimizer;
  }
  EXPECT_THROW(test_function("himmelblau"), UsageError);
  options.steps = 0;
  EXPECT_THROW(run_trajectories(bowl, {"sgd"}, options), UsageError);
}

TEST(Trajectories, JsonHoldsTheGridAndEachPath) {
  const TestFunction& f = test_function("beale");
  TrajectoryOptions options;
  options.steps = 10;
  const auto paths = run_trajectories(f, {"adam", "prodigy"}, options);
  const auto j = nlohmann::json::parse(trajectories_json(f, function_grid(f, 11, 7), paths));
  EXPECT_EQ(j["function"], "beale");
  EXPECT_EQ(j["grid"]["x"].size(), 11u);
  EXPECT_EQ(j["grid"]["values"].size(), 7u);
  EXPECT_EQ(j["grid"]["values"][0].size(), 11u);
  ASSERT_EQ(j["paths"].size(), 2u);
  EXPECT_EQ(j["paths"][1]["optimizer"], "prodigy");
  EXPECT_DOUBLE_EQ(j["paths"][1]["lr"].get<double>(), 1.0);  // lr-free: its default multiplier
  EXPECT_EQ(j["paths"][0]["points"].size(), 11u);
  EXPECT_TRUE(std::is_sorted(j["levels"].begin(), j["levels"].end()));
}

}  // namespace
}  // namespace mnist
