// The optimizers: one row each. A row names the optimizer, its default
// learning rate, how weight decay applies, its hyperparameters (key, default,
// valid range, help) and its class. Flags, help, validation, the JSON kept in
// checkpoints and the tests' lists of optimizers all derive from here.
#include <fmt/format.h>

#include "optim/adadelta.h"
#include "optim/adagrad.h"
#include "optim/adafactor.h"
#include "optim/adam.h"
#include "optim/adamax.h"
#include "optim/asgd.h"
#include "optim/dog.h"
#include "optim/lbfgs.h"
#include "optim/lion.h"
#include "optim/muon.h"
#include "optim/nadam.h"
#include "optim/radam.h"
#include "optim/prodigy.h"
#include "optim/rprop.h"
#include "optim/schedule_free.h"
#include "optim/optimizer.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "util/error.h"
#include "util/options.h"

namespace mnist {

namespace {

constexpr double kInf = 1e300;

Hyper weight_decay(double fallback) {
  return real("weight_decay", fallback, 0, kInf,
              "Weight decay: L2 added to the gradient, or decoupled (p *= 1 - lr wd) for adamw, lion, muon, "
              "adafactor, prodigy (docs/optimizers.md)");
}
Hyper eps(double fallback) { return real("eps", fallback, 0, kInf, "Denominator epsilon"); }
// PyTorch's betas: each in [0, 1).
Hyper betas(double beta1, double beta2, const char* help = "Decay rates of the running averages of the gradient "
                                                            "and of its square (--beta1, --beta2 set one)") {
  return pair("betas", beta1, beta2, 0, 1, help, false, true);
}

// Rprop's factors: 0 < eta_minus < 1 < eta_plus; its step sizes: min <= max.
void check_rprop(const OptimizerConfig& c) {
  require(c.get("etas", 0) < 1 && c.get("etas", 1) > 1,
          fmt::format("--etas: must be 0 < eta_minus < 1 < eta_plus, got {} {}", c.get("etas", 0), c.get("etas", 1)));
  require(c.get("step_sizes", 0) <= c.get("step_sizes", 1),
          fmt::format("--step-sizes: the minimum must not exceed the maximum, got {} {}", c.get("step_sizes", 0),
                      c.get("step_sizes", 1)));
}

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
       {weight_decay(0), betas(0.9, 0.999), toggle("amsgrad", "AMSGrad variant"), eps(1e-8)},
       true, nullptr, make_as<Adam>},
      {"adamw", "AdamW: Adam with decoupled weight decay", 0.001, WeightDecay::Decoupled,
       {weight_decay(0.01), betas(0.9, 0.999), toggle("amsgrad", "AMSGrad variant"), eps(1e-8)},
       true, nullptr, make_as<Adam>},
      {"nadam", "NAdam: Adam with Nesterov momentum", 0.002, WeightDecay::L2,
       {weight_decay(0), betas(0.9, 0.999), eps(1e-8),
        real("momentum_decay", 0.004, 0, kInf, "NAdam's momentum schedule: mu_t = beta1 (1 - 0.96^(t psi) / 2)")},
       false, nullptr, make_as<NAdam>},
      {"radam", "RAdam: Adam whose adaptive rate is rectified while its variance is high", 0.001, WeightDecay::L2,
       {weight_decay(0), betas(0.9, 0.999), eps(1e-8)}, false, nullptr, make_as<RAdam>},
      {"adamax", "Adamax: Adam with an infinity norm for the scale", 0.002, WeightDecay::L2,
       {weight_decay(0), betas(0.9, 0.999), eps(1e-8)}, false, nullptr, make_as<Adamax>},
      {"asgd", "ASGD: SGD with a decaying step, evaluated at the average of its iterates", 0.01, WeightDecay::L2,
       {weight_decay(0), real("lambd", 1e-4, 0, kInf, "ASGD decay term"),
        real("alpha", 0.75, 0, kInf, "ASGD's power for the step size's decay"),
        real("t0", 1e6, 0, kInf, "ASGD: the step at which averaging starts")},
       false, nullptr, make_as<Asgd>},
      {"rprop", "Rprop: per-weight step sizes from the gradient's sign alone", 0.01, WeightDecay::None,
       {pair("etas", 0.5, 1.2, 0, kInf, "Rprop's factors (decrease, increase) of a step size", true),
        pair("step_sizes", 1e-6, 50, 0, kInf, "Rprop's smallest and largest step sizes")},
       false, check_rprop, make_as<Rprop>, nullptr, ScheduleUse::None},
      {"lbfgs", "L-BFGS: quasi-Newton steps from a history of curvature pairs", 1.0, WeightDecay::None,
       {integer("max_iter", 20, 1, 1e6, "L-BFGS iterations per step"),
        {"max_eval", Hyper::Kind::Integer, {}, 1, 1e7, false, false, "L-BFGS loss evaluations per step",
         "max_iter * 5 / 4"},
        real("tolerance_grad", 1e-7, 0, kInf, "L-BFGS stops when max |gradient| is this small"),
        real("tolerance_change", 1e-9, 0, kInf, "L-BFGS stops when the loss or the step changes less"),
        integer("history_size", 100, 1, 1e4, "L-BFGS curvature pairs kept"),
        choice("line_search", {"none", "strong_wolfe"}, 0, "L-BFGS line search")},
       false, nullptr, make_as<Lbfgs>},
      {"adafactor", "Adafactor: factored second moments, steps relative to the weights' size", 0.01,
       WeightDecay::Own,
       {weight_decay(0), real("beta2_decay", -0.8, -kInf, 0, "Adafactor: beta2_t = 1 - t^beta2_decay"),
        {"eps", Hyper::Kind::Tuple, {0x1p-23, 1e-3}, 0, kInf, false, false,
         "Adafactor's (eps1, eps2): floor of the second moment, and of the weights' RMS",
         "float32 epsilon 0.001"},
        real("d", 1.0, 0, kInf, "Adafactor clips updates whose RMS exceeds d", true)},
       false, nullptr, make_as<Adafactor>},
      {"muon", "Muon: momentum orthogonalised by Newton-Schulz (AdamW for the biases)", 0.001,
       WeightDecay::Own,
       {weight_decay(0.1), real("momentum", 0.95, 0, 1, "Momentum", false, true),
        toggle("nesterov", "Nesterov momentum", true),
        tuple("ns_coefficients", {3.4445, -4.7750, 2.0315}, -kInf, kInf, "Muon's Newton-Schulz coefficients (a, b, c)"),
        eps(1e-7), integer("ns_steps", 5, 0, 99, "Muon's Newton-Schulz iterations"),
        choice("adjust_lr_fn", {"original", "match_rms_adamw"}, 1,
               "Muon's lr scaling: sqrt(max(1, A/B)), or 0.2 sqrt(max(A, B)) to match AdamW's RMS"),
        pair("adamw_betas", 0.9, 0.999, 0, 1, "Muon: betas of the AdamW that updates the biases", false, true),
        real("adamw_eps", 1e-8, 0, kInf, "Muon: eps of the AdamW that updates the biases")},
       false, nullptr, make_as<Muon>},
      {"lion", "Lion: the sign of an interpolated momentum, found by program search", 1e-4, WeightDecay::Decoupled,
       {weight_decay(0), betas(0.9, 0.99)}, false, nullptr, make_as<Lion>},
      {"sgd-schedulefree", "Schedule-Free SGD: averaging in place of a schedule, evaluated at the average", 1.0,
       WeightDecay::L2,
       {weight_decay(0), real("momentum", 0.9, 0, 1, "Momentum", true, true),
        real("r", 0, 0, kInf, "Schedule-free: the average weights step k by k^r"),
        real("weight_lr_power", 2, 0, kInf, "Schedule-free: ... and by lr_max^weight_lr_power")},
       false, nullptr, make_as<SgdScheduleFree>, nullptr, ScheduleUse::WarmupOnly},
      {"adamw-schedulefree", "Schedule-Free AdamW: averaging in place of a schedule, evaluated at the average",
       0.0025, WeightDecay::Own,
       {weight_decay(0), betas(0.9, 0.999), eps(1e-8),
        real("r", 0, 0, kInf, "Schedule-free: the average weights step k by k^r"),
        real("weight_lr_power", 2, 0, kInf, "Schedule-free: ... and by lr_max^weight_lr_power"),
        toggle("decay_at_z", "Schedule-free AdamW: decay z instead of y")},
       false, nullptr, make_as<AdamWScheduleFree>, nullptr, ScheduleUse::WarmupOnly},
      {"prodigy", "Prodigy: Adam scaled by an estimate of the distance to the solution (learning-rate free)", 1.0,
       WeightDecay::Own,
       {weight_decay(0), betas(0.9, 0.999),
        optional_real("beta3", 0, 1, "Prodigy's decay for the distance estimate", "sqrt(beta2)", false, true),
        eps(1e-8), toggle("decouple", "Prodigy: decoupled weight decay (AdamW's)", true),
        toggle("use_bias_correction", "Prodigy: Adam's bias correction"),
        toggle("safeguard_warmup", "Prodigy: leave the lr out of the estimate's denominator"),
        real("d0", 1e-6, 0, kInf, "Prodigy's first estimate of the distance", true),
        real("d_coef", 1.0, 0, kInf, "Prodigy's multiplier of the estimate (its learning rate)", true),
        {"growth_rate", Hyper::Kind::Real, {kInf}, 1, kInf, false, false, "Prodigy: most d may grow in a step",
         "inf"}},
       false, nullptr, make_as<Prodigy>, "d_coef"},
      {"dog", "DoG: SGD with step distance / sqrt(sum of squared gradients) (learning-rate free)", 1.0,
       WeightDecay::Own,
       {weight_decay(0), real("reps_rel", 1e-6, 0, kInf, "DoG's first step distance, relative to 1 + |x0|", true),
        eps(1e-8), optional_real("init_eta", 0, kInf, "DoG: the first step size, in place of reps_rel", "none", true),
        real("avg_gamma", 8, 0, kInf, "DoG's iterate average: weight (gamma + 1) / (gamma + t)")},
       false, nullptr, make_as<DoG>, "lr"},
  };
  return rows;
}

}  // namespace mnist
