// Training on real MNIST (scripts/setup.sh puts it in data/mnist).
#include <gtest/gtest.h>

#include <chrono>

#include <cstring>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "data/dataset.h"
#include "checkpoint/checkpoint.h"
#include "helpers.h"
#include "io/safetensors.h"
#include "kernels/layers.h"
#include "nn/models.h"
#include "train/run.h"

namespace mnist {
namespace {

const DataSplits& mnist_data() {
  static const DataSplits data = load_data(test::mnist_data_dir());
  return data;
}

std::vector<float> train_weights(const DataSplits& data, int threads, const std::string& model, int steps) {
  TrainConfig config;
  config.model = model;
  config.optimizer.set("momentum", 0.9);
  config.seed = 7;
  config.batch_size = 50;
  config.steps = steps;
  TrainingRun run(plan_new_run(config, "", threads), borrow(data));
  EXPECT_EQ(run.run().status, RunStatus::Finished);
  EXPECT_EQ(run.steps(), steps);
  return {run.network().params().begin(), run.network().params().end()};
}

TEST(Train, ThreadCountDoesNotChangeABit) {
  for (const char* model : {"cnn", "mlp"}) {
    const auto one = train_weights(mnist_data(), 1, model, 8);
    const auto two = train_weights(mnist_data(), 2, model, 8);
    const auto three = train_weights(mnist_data(), 3, model, 8);
    ASSERT_EQ(one.size(), two.size());
    EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0) << model;
    EXPECT_EQ(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)), 0) << model;
  }
}

TEST(Train, TheSameSeedGivesTheSameWeights) {
  const auto a = train_weights(mnist_data(), 2, "cnn", 5);
  const auto b = train_weights(mnist_data(), 2, "cnn", 5);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

// The training time a run reports is the time it trained, counted once,
// with the time of an earlier session (a resumed run) added once.
TEST(Train, ReportedSecondsAreTheTimeSpentTraining) {
  DataSplits data = mnist_data();
  data.train = data.train.head(1000);
  data.test = data.test.head(200);
  TrainConfig config;
  config.model = "mlp";
  config.epochs = 4;
  TrainingRun run(plan_new_run(config, "", 1), borrow(data));
  Trainer& trainer = run.trainer();
  trainer.state().seconds = 100;  // as if resumed after 100 s of training
  double last_step_seconds = 0;
  RunEvents events;
  events.on_batch = [&](const StepEvent& e) { last_step_seconds = e.seconds; };
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run.run(events).status, RunStatus::Finished);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(trainer.state().seconds, 100);
  EXPECT_LE(trainer.state().seconds, 100 + wall);
  EXPECT_GT(last_step_seconds, 100);
  EXPECT_LE(last_step_seconds, trainer.state().seconds);
}

// Predictor, one image at a time with its workspace kept, gives each
// image's probabilities as a batch forward pass does.
TEST(Predictor, MatchesABatchForwardPassImageByImage) {
  const DataSplits& data = mnist_data();
  Network<float> net = make_network<float>("cnn", {1, 28, 28}, 10);
  net.init(5);
  std::vector<float> images(3 * 784);
  std::vector<uint8_t> labels(3);
  const std::vector<uint32_t> indices = {0, 1, 2};
  data.test.gather(indices, data.scaling, images.data(), labels.data());
  Workspace<float> batch(net, 3, /*for_training=*/false);
  std::vector<float> expected(30);
  softmax(batch.forward(net, images.data(), 3), expected.data(), 3, 10);
  Predictor predict(net);
  for (int i = 0; i < 3; ++i) {
    const auto probs = predict(images.data() + i * 784);
    ASSERT_EQ(probs.size(), 10u);
    for (int c = 0; c < 10; ++c) EXPECT_NEAR(probs[c], expected[i * 10 + c], 1e-6) << i << " " << c;
  }
}

// The course's CNN, one epoch of SGD at lr 0.1, batch 100.
TEST(EndToEnd, CnnReaches97PercentOnRealMnist) {
  const DataSplits& data = mnist_data();
  ASSERT_EQ(data.train.count, 60000);
  ASSERT_EQ(data.test.count, 10000);
  TrainConfig config;
  config.optimizer.lr = 0.1;
  config.epochs = 1;
  TrainingRun run(plan_new_run(config), borrow(data));
  Network<float>& net = run.network();
  ThreadPool& pool = run.pool();
  Trainer& trainer = run.trainer();
  double first_loss = 0;
  int epochs_seen = 0;
  EvalResult epoch_eval;
  RunEvents events;
  events.on_step = [&](const StepEvent& e) {
    if (e.step == 0) first_loss = e.loss;
  };
  events.on_epoch = [&](const EpochEvent& e) {
    ++epochs_seen;
    EXPECT_EQ(e.eval_split, "test");
    epoch_eval = e.eval;
  };
  const RunResult result = run.run(events);
  ASSERT_EQ(result.status, RunStatus::Finished);
  EXPECT_EQ(result.test->loss, epoch_eval.loss);
  EXPECT_EQ(epochs_seen, 1);
  EXPECT_NEAR(first_loss, std::log(10.0), 0.1) << "an untrained network guesses uniformly";
  const EvalResult r = evaluate(net, data.test, data.scaling, pool);
  EXPECT_EQ(r.samples, 10000);
  EXPECT_GE(r.accuracy(), 0.97);
  EXPECT_LT(r.loss, 0.1);
  int total = 0;
  for (int v : r.confusion) total += v;
  EXPECT_EQ(total, 10000);
  // The trainer's test result is that evaluation (the epoch's, reused),
  // until a step changes the weights.
  EXPECT_EQ(trainer.test_result().loss, r.loss);
  EXPECT_EQ(trainer.test_result().loss, epoch_eval.loss);
  const auto order = epoch_order(data.train.count, 1, 0, true);
  trainer.step(std::span(order).subspan(0, 100), 0.1);
  EXPECT_EQ(trainer.test_result().loss, evaluate(net, data.test, data.scaling, pool).loss);
  EXPECT_NE(trainer.test_result().loss, r.loss);
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// From PyTorch's own initial weights and with batches in file order, 30
// steps of the CNN follow PyTorch's loss trajectory for every optimizer
// (tests/fixtures/parity.json, from tools/make_parity_fixtures.py; that
// script explains the settings chosen for rmsprop and adadelta).
TEST(PyTorchParity, ThirtyCnnStepsFollowPyTorchForEveryOptimizer) {
  std::ifstream in(std::string(MNIST_FIXTURES) + "/parity.json");
  const auto fixture = nlohmann::json::parse(in);
  const DataSplits& data = mnist_data();
  const int steps = fixture["steps"], batch = fixture["batch"];
  ASSERT_EQ(fixture["losses"].size(), optimizer_names().size());
  for (const auto& [name, losses] : fixture["losses"].items()) {
    SCOPED_TRACE(name);
    SavedModel init = load_model(std::string(MNIST_FIXTURES) + "/" + fixture["init"].get<std::string>());
    TrainConfig config;
    config.optimizer.name = name;
    // Every option the fixture gives, by the registry's keys.
    config.optimizer.hypers = hypers_from_json(fixture["options"][name], optimizer_row(name).hypers, {"lr"});
    config.optimizer.lr = fixture["options"][name]["lr"].get<double>();
    config.batch_size = batch;
    config.shuffle = false;  // batches in file order, as the fixture's
    config.steps = steps;
    RunPlan plan = plan_new_run(config, "", 2);
    plan.options.evaluate_epochs = false;
    TrainingRun run(std::move(plan), borrow(data), std::move(init.network));
    std::vector<double> got;
    RunEvents events;
    events.on_batch = [&](const StepEvent& e) { got.push_back(e.loss); };
    ASSERT_EQ(run.run(events).status, RunStatus::Finished);
    ASSERT_EQ(got.size(), static_cast<size_t>(steps));
    for (int s = 0; s < steps; ++s) {
      const double want = losses[s].get<double>();
      EXPECT_NEAR(got[s], want, 1e-4 * want) << "step " << s;
      if (std::abs(got[s] - want) > 1e-4 * want) break;  // one failure an optimizer; the others still run
    }
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

TEST(ThreadPool, RunsEveryTaskOnceAndPropagatesErrors) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    std::vector<int> hits(1000, 0);
    for (int round = 0; round < 20; ++round) {
      pool.run(1000, [&](int task, int worker) {
        ASSERT_GE(worker, 0);
        ASSERT_LT(worker, threads);
        ++hits[task];
      });
    }
    for (int h : hits) ASSERT_EQ(h, 20);
    EXPECT_THROW(pool.run(10, [](int task, int) {
                   if (task == 7) throw Error("task 7 failed");
                 }),
                 Error);
    int after = 0;
    pool.run(5, [&](int, int) { __atomic_add_fetch(&after, 1, __ATOMIC_RELAXED); });
    EXPECT_EQ(after, 5) << "the pool still works after an error";
  }
}

}  // namespace
}  // namespace mnist

namespace mnist {
namespace {

// A checkpoint written by the round-1 binary (before the run layer and the
// registries): AdamW, one-cycle, clipping and the bias exemption, stopped at
// step 300 of 600. Resumed through the run layer, it ends with exactly the
// weights and optimizer state that the round-1 binary's own resume wrote.
TEST(Resume, CheckpointsFromBeforeTheRunLayerResumeToTheSameBits) {
  test::TempDir dir;
  const std::string fixtures = MNIST_FIXTURES;
  std::filesystem::copy_file(fixtures + "/round1_adamw_step300.safetensors", dir.file("run.safetensors"));
  ResumeChanges changes;
  changes.data = test::mnist_data_dir();
  changes.threads = 2;
  TrainingRun run(plan_resume(dir.file("run.safetensors"), changes));
  EXPECT_EQ(run.steps(), 300);
  EXPECT_EQ(run.config().optimizer.name, "adamw");
  ASSERT_EQ(run.run().status, RunStatus::Finished);
  const SavedModel ours = load_model(dir.file("run.safetensors"));
  const SavedModel theirs = load_model(fixtures + "/round1_adamw_final.safetensors");
  for (const ParamTensor& t : theirs.network.tensors()) {
    SCOPED_TRACE(t.name);
    for (const std::string& name : {t.name, "optim.exp_avg." + t.name, "optim.exp_avg_sq." + t.name}) {
      std::vector<float> a(t.size), b(t.size);
      ours.file->copy_to(name, t.shape, a);
      theirs.file->copy_to(name, t.shape, b);
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << name;
    }
  }
  EXPECT_EQ(ours.metadata.at("optim.steps"), theirs.metadata.at("optim.steps"));
}

}  // namespace
}  // namespace mnist
