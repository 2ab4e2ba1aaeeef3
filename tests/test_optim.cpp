// Optimizers against exact values from PyTorch (tests/fixtures/optim.json,
// written by tools/make_optim_fixtures.py with Debian's torch).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "optim/optimizer.h"
#include "util/error.h"

namespace mnist {
namespace {

using nlohmann::json;

json load_fixture() {
  std::ifstream in(std::string(MNIST_FIXTURES) + "/optim.json");
  EXPECT_TRUE(in.good()) << "missing fixture; run tools/make_optim_fixtures.py";
  return json::parse(in);
}

OptimizerConfig config_from(const json& c) {
  OptimizerConfig config;
  config.name = c["optimizer"];
  config.lr = c["lr"];
  const json& o = c["options"];
  config.momentum = o.value("momentum", 0.0);
  config.dampening = o.value("dampening", 0.0);
  config.nesterov = o.value("nesterov", false);
  config.weight_decay = o.value("weight_decay", 0.0);
  return config;
}

// A weight of 7 values and a bias of 3, as in the fixture.
std::vector<ParamTensor> fixture_tensors() {
  return {{"w", {7}, 0, 7, false}, {"b", {3}, 7, 3, true}};
}

TEST(OptimizerFixtures, MatchPyTorchStepByStep) {
  const json fixture = load_fixture();
  ASSERT_FALSE(fixture["cases"].empty());
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

TEST(OptimizerConfig, RefusesBadHyperparameters) {
  auto refused = [](auto edit, const std::string& flag) {
    OptimizerConfig c;
    edit(c);
    try {
      validate(c);
      ADD_FAILURE() << "accepted; expected an error about " << flag;
    } catch (const UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(flag, 0), 0u) << e.what();
    }
  };
  refused([](OptimizerConfig& c) { c.lr = -0.1; }, "--lr");
  refused([](OptimizerConfig& c) { c.lr = std::nan(""); }, "--lr");
  refused([](OptimizerConfig& c) { c.lr = INFINITY; }, "--lr");
  refused([](OptimizerConfig& c) { c.momentum = -0.5; }, "--momentum");
  refused([](OptimizerConfig& c) { c.dampening = 2; }, "--dampening");
  refused([](OptimizerConfig& c) { c.weight_decay = -1; }, "--weight-decay");
  refused([](OptimizerConfig& c) { c.nesterov = true; }, "--nesterov");
  refused([](OptimizerConfig& c) { c.name = "lbfgs"; }, "--optimizer");
}

}  // namespace
}  // namespace mnist
