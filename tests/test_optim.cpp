// Optimizers against exact values from PyTorch (tests/fixtures/optim.json,
// written by tools/make_optim_fixtures.py with Debian's torch).
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <fstream>
#include <nlohmann/json.hpp>

#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "util/error.h"

namespace mnist {
namespace {

using nlohmann::json;

json load_fixture() {
  std::ifstream in(std::string(MNIST_FIXTURES) + "/optim.json");
  EXPECT_TRUE(in.good()) << "missing fixture; run tools/make_optim_fixtures.py";
  return json::parse(in);
}

// The fixture's options by their keys: the registry rows name the same keys.
HyperValues hypers_of(const json& o, const std::vector<std::string>& skip) {
  HyperValues values;
  for (const auto& [key, v] : o.items()) {
    if (std::find(skip.begin(), skip.end(), key) != skip.end()) continue;
    if (v.is_boolean()) {
      values.set(key, v.get<bool>() ? 1.0 : 0.0);
    } else if (v.is_array()) {
      values.set(key, v.get<std::vector<double>>());
    } else {
      values.set(key, v.get<double>());
    }
  }
  return values;
}

OptimizerConfig config_from(const json& c) {
  OptimizerConfig config;
  config.name = c["optimizer"];
  config.lr = c["lr"];
  config.hypers = hypers_of(c["options"], {"decay_biases"});
  config.decay_biases = c["options"].value("decay_biases", true);
  return config;
}

ScheduleConfig schedule_from(const json& o) {
  ScheduleConfig config;
  config.name = o["name"];
  config.hypers = hypers_of(o, {"name", "warmup_steps"});
  config.warmup_steps = o.value("warmup_steps", 0);
  return config;
}

// A weight of 7 values and a bias of 3, as in the fixture.
std::vector<ParamTensor> fixture_tensors() {
  return {{"w", {7}, 0, 7, false}, {"b", {3}, 7, 3, true}};
}

TEST(OptimizerFixtures, MatchPyTorchStepByStep) {
  const json fixture = load_fixture();
  ASSERT_EQ(fixture["cases"].size(), 19u);
  for (const json& c : fixture["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    auto optimizer = make_optimizer(config_from(c), fixture_tensors());
    std::vector<float> params = fixture["params"].get<std::vector<float>>();
    const auto& after = c["after"];
    ASSERT_EQ(after.size(), fixture["grads"].size());
    for (size_t step = 0; step < after.size(); ++step) {
      const auto grads = fixture["grads"][step].get<std::vector<float>>();
      optimizer->step(params, grads, c["lr"].get<double>());
      const auto want = after[step].get<std::vector<double>>();
      for (size_t i = 0; i < params.size(); ++i) {
        // At most 1e-6 relative (with a floor of about one float ulp near 1).
        ASSERT_NEAR(params[i], want[i], 1e-6 * std::abs(want[i]) + 1e-7) << "step " << step << " value " << i;
      }
    }
    EXPECT_EQ(optimizer->steps(), static_cast<int64_t>(after.size()));
  }
}

TEST(ScheduleFixtures, MatchPyTorchSchedulers) {
  const json fixture = load_fixture();
  const double base = fixture["schedule_base_lr"];
  const int epochs = fixture["schedule_epochs"], per_epoch = fixture["schedule_steps_per_epoch"];
  ASSERT_EQ(fixture["schedules"].size(), 8u);
  for (const json& c : fixture["schedules"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto schedule =
        make_schedule(schedule_from(c["options"]), base, per_epoch, static_cast<int64_t>(epochs) * per_epoch);
    const auto want = c["lrs"].get<std::vector<double>>();
    for (size_t t = 0; t < want.size(); ++t) {
      ASSERT_NEAR(schedule->lr(static_cast<int64_t>(t)), want[t], 1e-9 * want[t] + 1e-15) << "step " << t;
    }
  }
}

TEST(ScheduleFixtures, ReduceOnPlateauMatchesPyTorch) {
  const json fixture = load_fixture()["plateau"];
  json options = fixture["options"];
  options["name"] = "plateau";
  const auto schedule = make_schedule(schedule_from(options), 0.1, 10, 100);
  const auto losses = fixture["losses"].get<std::vector<double>>();
  const auto want = fixture["lrs"].get<std::vector<double>>();
  for (size_t e = 0; e < losses.size(); ++e) {
    schedule->epoch_end(losses[e]);
    EXPECT_DOUBLE_EQ(schedule->lr(static_cast<int64_t>(e + 1) * 10), want[e]) << "after epoch " << e;
  }
}

TEST(Schedule, WarmUpMultipliesAnySchedule) {
  ScheduleConfig cosine;
  cosine.name = "cosine";
  ScheduleConfig warm = cosine;
  warm.warmup_steps = 4;
  const auto plain = make_schedule(cosine, 0.1, 10, 100), warmed = make_schedule(warm, 0.1, 10, 100);
  for (int t = 0; t < 10; ++t) {
    EXPECT_DOUBLE_EQ(warmed->lr(t), plain->lr(t) * (t < 4 ? (t + 1) / 4.0 : 1.0)) << t;
  }
}

TEST(Schedule, PolyDefaultsToTheCoursesTenfoldDecay) {
  ScheduleConfig poly;
  poly.name = "poly";
  const auto s = make_schedule(poly, 0.01, 10, 100);
  EXPECT_DOUBLE_EQ(s->lr(0), 0.01);
  EXPECT_DOUBLE_EQ(s->lr(50), 0.0055);
  EXPECT_DOUBLE_EQ(s->lr(100), 0.001);
}

TEST(Schedule, RefusesBadSettings) {
  auto refused = [](auto edit, const std::string& flag) {
    ScheduleConfig c;
    edit(c);
    try {
      (void)c.resolved(0.1);
      ADD_FAILURE() << "accepted; expected an error about " << flag;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
    }
  };
  refused([](ScheduleConfig& c) { c.name = "sawtooth"; }, "--schedule");
  refused([](ScheduleConfig& c) { c.name = "multistep"; }, "--milestones");
  refused([](ScheduleConfig& c) { c.name = "multistep"; c.set("milestones", {3, 2}); }, "--milestones");
  refused([](ScheduleConfig& c) { c.set("gamma", 0.5); }, "--gamma");  // constant has no gamma
  refused([](ScheduleConfig& c) { c.name = "step"; c.set("gamma", 0); }, "--gamma");
  refused([](ScheduleConfig& c) { c.name = "step"; c.set("step_size", 0); }, "--step-size");
  refused([](ScheduleConfig& c) { c.name = "onecycle"; c.set("pct_start", 1.5); }, "--pct-start");
  refused([](ScheduleConfig& c) { c.warmup_steps = -1; }, "--warmup-steps");
  refused([](ScheduleConfig& c) { c.name = "cosine"; c.set("min_lr", -1); }, "--min-lr");
}

// Every optimizer minimises an ill-conditioned parabola and the Rosenbrock
// function from a fixed start, with a learning rate and step count of its own.
struct Convergence {
  const char* optimizer;
  double parabola_lr;
  double rosenbrock_lr;
  int rosenbrock_steps;
};

// Runs an optimizer on a 2-D function from a start point: each step gets
// the gradient there and a closure that evaluates it again (LBFGS's).
template <class F>
std::vector<float> minimise(Optimizer& opt, F f, std::vector<float> p, double lr, int steps) {
  std::vector<float> g(2);
  auto evaluate = [&] {
    const auto [value, gx, gy] = f(p[0], p[1]);
    g = {gx, gy};
    return value;
  };
  for (int i = 0; i < steps; ++i) {
    const Closure closure{evaluate(), evaluate};
    opt.step(p, g, lr, &closure);
  }
  std::vector<float> out(2);
  opt.eval_point(p, out);  // the average, for optimizers that average
  return out;
}

TEST(Convergence, EveryOptimizerMinimisesParabolaAndRosenbrock) {
  const Convergence table[] = {
      {"sgd", 0.09, 0.001, 20000},   {"momentum", 0.02, 2e-4, 20000},
      {"adagrad", 0.9, 0.5, 20000},  {"rmsprop", 0.01, 3e-4, 20000},
      {"adadelta", 0.15, 0.03, 20000}, {"adam", 0.05, 0.01, 20000},
      {"adamw", 0.05, 0.01, 20000},  {"nadam", 0.05, 0.01, 20000},
      {"radam", 0.05, 0.01, 20000},  {"adamax", 0.1, 0.02, 20000},
      {"asgd", 0.09, 0.001, 20000},  {"rprop", 0.01, 0.01, 3000},
      {"lbfgs", 1, 1, 200},          {"adafactor", 0.1, 0.01, 20000},
      {"muon", 0.05, 0.01, 20000},   {"lion", 0.003, 0.001, 20000},
      {"sgd-schedulefree", 0.05, 0.002, 60000}, {"adamw-schedulefree", 0.05, 0.01, 20000},
      {"prodigy", 1, 1, 20000},      {"dog", 1, 1, 20000},
  };
  const std::vector<ParamTensor> tensors = {{"xy", {2}, 0, 2, false}};
  for (const std::string& name : optimizer_names()) {
    EXPECT_TRUE(std::any_of(std::begin(table), std::end(table), [&](const Convergence& c) { return name == c.optimizer; }))
        << name << " has no row here";
  }
  // f = (x^2 + 10 y^2) / 2 from (3, -2): minimum 0 at the origin.
  auto parabola = [](float x, float y) {
    return std::tuple{0.5 * (x * x + 10.0 * y * y), x, 10 * y};
  };
  // f = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2): minimum 0 at (1, 1).
  auto rosenbrock = [](float x, float y) {
    return std::tuple{(1.0 - x) * (1.0 - x) + 100.0 * (y - x * x) * (y - x * x),
                      -2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)};
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.optimizer);
    OptimizerConfig config;
    config.name = row.optimizer;
    if (config.name == "adamw" || config.name == "muon") config.set("weight_decay", 0.0);
    auto opt = make_optimizer(config, tensors);
    auto p = minimise(*opt, parabola, {3.0f, -2.0f}, row.parabola_lr, 3000);
    EXPECT_LT(std::hypot(p[0], p[1]), 1e-2) << "parabola ends at " << p[0] << ", " << p[1];
    opt = make_optimizer(config, tensors);
    p = minimise(*opt, rosenbrock, {-1.5f, 2.0f}, row.rosenbrock_lr, row.rosenbrock_steps);
    EXPECT_LT(std::hypot(p[0] - 1, p[1] - 1), 5e-2) << "rosenbrock ends at " << p[0] << ", " << p[1];
  }
}

TEST(OptimizerConfig, RefusesBadHyperparameters) {
  auto refused = [](auto edit, const std::string& flag) {
    OptimizerConfig c;
    edit(c);
    try {
      (void)c.resolved();
      ADD_FAILURE() << "accepted; expected an error about " << flag;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
    }
  };
  refused([](OptimizerConfig& c) { c.lr = -0.1; }, "--lr");
  refused([](OptimizerConfig& c) { c.lr = std::nan(""); }, "--lr");
  refused([](OptimizerConfig& c) { c.lr = INFINITY; }, "--lr");
  refused([](OptimizerConfig& c) { c.set("momentum", -0.5); }, "--momentum");
  refused([](OptimizerConfig& c) { c.set("dampening", 2); }, "--dampening");
  refused([](OptimizerConfig& c) { c.set("weight_decay", -1); }, "--weight-decay");
  refused([](OptimizerConfig& c) { c.set("nesterov", 1); }, "--nesterov");
  refused([](OptimizerConfig& c) { c.name = "no-such-optimizer"; }, "--optimizer");
  refused([](OptimizerConfig& c) { c.name = "adam"; c.set("beta1", 1.0); }, "--beta1");
  refused([](OptimizerConfig& c) { c.name = "adam"; c.set("beta2", -0.1); }, "--beta2");
  refused([](OptimizerConfig& c) { c.name = "adam"; c.set("momentum", 0.9); }, "--momentum");
  refused([](OptimizerConfig& c) { c.set("amsgrad", 1); }, "--amsgrad");
  refused([](OptimizerConfig& c) { c.set("centered", 1); }, "--centered");
  refused([](OptimizerConfig& c) { c.set("eps", 1e-8); }, "--eps");
  refused([](OptimizerConfig& c) { c.name = "rmsprop"; c.set("alpha", 1.0); }, "--alpha");
  refused([](OptimizerConfig& c) { c.name = "adagrad"; c.set("lr_decay", -1); }, "--lr-decay");
  refused([](OptimizerConfig& c) { c.name = "momentum"; c.set("momentum", 0); }, "--momentum");
}

}  // namespace
}  // namespace mnist
