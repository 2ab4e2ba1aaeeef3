// The optimizers: one row each. A row names the optimizer, its default
// learning rate, how weight decay applies, its hyperparameters (key, default,
// valid range, help) and its class. Flags, help, validation, the JSON kept in
// checkpoints and the tests' lists of optimizers all derive from here.
#include <fmt/format.h>

#include "optim/adadelta.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/optimizer.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "util/error.h"
#include "util/options.h"

namespace mnist {

namespace {

constexpr double kInf = 1e300;

Hyper weight_decay(double fallback) {
  return real("weight_decay", fallback, 0, kInf, "Weight decay: L2 added to the gradient, decoupled for adamw");
}
Hyper eps(double fallback) { return real("eps", fallback, 0, kInf, "Denominator epsilon"); }
Hyper beta(const char* key, double fallback, const char* help) { return real(key, fallback, 0, 1, help, false, true); }

// Nesterov momentum needs a momentum and no dampening (as in PyTorch).
void check_nesterov(const OptimizerConfig& c) {
  require(!c.on("nesterov") || (c.get("momentum") > 0 && c.get("dampening") == 0),
          "--nesterov: needs --momentum > 0 and --dampening 0");
}

}  // namespace

// Learning rates when --lr is not given: the course's 0.01 for sgd and
// momentum, PyTorch's for the rest.
const std::vector<OptimizerRow>& optimizer_registry() {
  static const std::vector<OptimizerRow> rows = {
      {"sgd", "stochastic gradient descent (the course's)", 0.01, WeightDecay::L2,
       {weight_decay(0), real("momentum", 0, 0, kInf, "Momentum"),
        real("dampening", 0, 0, 1, "SGD momentum dampening"), toggle("nesterov", "Nesterov momentum")},
       true, check_nesterov, make_as<Sgd>},
      {"momentum", "SGD with momentum 0.9", 0.01, WeightDecay::L2,
       {weight_decay(0), real("momentum", 0.9, 0, kInf, "Momentum", /*lo_open=*/true),
        real("dampening", 0, 0, 1, "SGD momentum dampening"), toggle("nesterov", "Nesterov momentum")},
       true, check_nesterov, make_as<Sgd>},
      {"adagrad", "AdaGrad: per-weight steps from the sum of squared gradients", 0.01, WeightDecay::L2,
       {weight_decay(0), real("lr_decay", 0, 0, kInf, "AdaGrad learning-rate decay"),
        real("initial_accumulator", 0, 0, kInf, "AdaGrad's starting sum"), eps(1e-10)},
       true, nullptr, make_as<Adagrad>},
      {"rmsprop", "RMSProp: per-weight steps from a moving average of squared gradients", 0.01, WeightDecay::L2,
       {weight_decay(0), real("momentum", 0, 0, kInf, "Momentum"),
        real("alpha", 0.99, 0, 1, "RMSProp smoothing constant", false, true), toggle("centered", "Centered RMSProp"),
        eps(1e-8)},
       true, nullptr, make_as<RmsProp>},
      {"adadelta", "Adadelta: steps in the units of recent updates", 1.0, WeightDecay::L2,
       {weight_decay(0), real("rho", 0.9, 0, 1, "Adadelta smoothing constant"), eps(1e-6)},
       false, nullptr, make_as<Adadelta>},
      {"adam", "Adam: momentum with RMSProp's scaling, bias-corrected", 0.001, WeightDecay::L2,
       {weight_decay(0), beta("beta1", 0.9, "Adam first-moment decay"),
        beta("beta2", 0.999, "Adam second-moment decay"), toggle("amsgrad", "AMSGrad variant"), eps(1e-8)},
       true, nullptr, make_as<Adam>},
      {"adamw", "AdamW: Adam with decoupled weight decay", 0.001, WeightDecay::Decoupled,
       {weight_decay(0.01), beta("beta1", 0.9, "Adam first-moment decay"),
        beta("beta2", 0.999, "Adam second-moment decay"), toggle("amsgrad", "AMSGrad variant"), eps(1e-8)},
       true, nullptr, make_as<Adam>},
  };
  return rows;
}

}  // namespace mnist
