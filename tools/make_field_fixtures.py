#!/usr/bin/python3
"""Writes tests/fixtures/optim_field.json: exact-value references for the
optimizers added after the first seven.

Three tensors as in a small network: a weight "w" [4, 6], a convolution kernel
"k" [3, 2, 2, 2] and a bias "b" [3] (51 values, flattened in that order,
row-major). Each case applies the same 8 gradients and records the parameters
after every step.
- PyTorch 1.13 optimizers (nadam, radam, adamax, asgd, rprop) run in float32
  with torch.optim; asgd also records its average `ax` ("ax_after").
- The others run the float64 references of tools/optim_references.py (params
  and gradients are the same float32 numbers, widened); schedule-free and DoG
  also record their evaluation point ("eval_after").
- LBFGS needs a function, not fixed gradients: f(p) = sum_i 0.5 a_i (p_i - c_i)^2
  + 0.05 (p_i - c_i)^4 in float32 with a closure, 6 steps, recording the params
  and the loss each step() returned (the loss at the start of the step).
Hyperparameters are chosen so that every option changes the result (--check
verifies it). `decay_biases: false` cases give torch two parameter groups (the
bias with weight decay 0) and the references a per-tensor exemption.

  /usr/bin/python3 tools/make_field_fixtures.py           # write the fixture
  /usr/bin/python3 tools/make_field_fixtures.py --check   # self-tests, writes nothing
"""
import json
import math
import os
import pathlib
import sys

# LBFGS's dot products run in OpenBLAS, whose kernel (and so summation order) depends on the
# CPU; pin the kernels make_parity_fixtures.py pins (overriding the environment) so that the
# fixture is the same on every AVX-512 machine.
if "avx512f" in pathlib.Path("/proc/cpuinfo").read_text():
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"  # before numpy and torch load OpenBLAS

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import optim_references as R  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optim_field.json"
STEPS = 8
LBFGS_STEPS = 6
TENSORS = [{"name": "w", "shape": [4, 6], "bias": False},
           {"name": "k", "shape": [3, 2, 2, 2], "bias": False},
           {"name": "b", "shape": [3], "bias": True}]
SIZES = [int(np.prod(t["shape"])) for t in TENSORS]
O = torch.optim

# PyTorch 1.13 optimizers: (case name, our optimizer, lr, our options, decay_biases, torch class, torch kwargs).
TORCH_CASES = [
    ("nadam_default", "nadam", 0.01, {}, True, O.NAdam, {}),
    ("nadam_all", "nadam", 0.02, {"betas": [0.8, 0.95], "eps": 1e-3, "weight_decay": 0.1, "momentum_decay": 0.05},
     True, O.NAdam, dict(betas=(0.8, 0.95), eps=1e-3, weight_decay=0.1, momentum_decay=0.05)),
    ("nadam_no_decay_bias", "nadam", 0.02, {"weight_decay": 0.3}, False, O.NAdam, dict(weight_decay=0.3)),
    # beta2 0.999: rho_t > 5 from step 6, so both branches run within 8 steps (betas 0.8/0.9: from step 6 too).
    ("radam_default", "radam", 0.01, {}, True, O.RAdam, {}),
    ("radam_all", "radam", 0.02, {"betas": [0.8, 0.9], "eps": 1e-2, "weight_decay": 0.1},
     True, O.RAdam, dict(betas=(0.8, 0.9), eps=1e-2, weight_decay=0.1)),
    ("radam_no_decay_bias", "radam", 0.02, {"weight_decay": 0.3}, False, O.RAdam, dict(weight_decay=0.3)),
    ("adamax_default", "adamax", 0.01, {}, True, O.Adamax, {}),
    ("adamax_all", "adamax", 0.02, {"betas": [0.8, 0.9], "eps": 0.05, "weight_decay": 0.1},
     True, O.Adamax, dict(betas=(0.8, 0.9), eps=0.05, weight_decay=0.1)),
    ("adamax_no_decay_bias", "adamax", 0.02, {"weight_decay": 0.3}, False, O.Adamax, dict(weight_decay=0.3)),
    # Default t0 1e6: ax is a plain copy of p throughout.
    ("asgd_default", "asgd", 0.01, {}, True, O.ASGD, {}),
    # t0 2: mu = 1/(t-1-t0) < 1 from step 5 on, so ax becomes a real average.
    ("asgd_all", "asgd", 0.05, {"lambd": 0.05, "alpha": 0.5, "t0": 2.0, "weight_decay": 0.1},
     True, O.ASGD, dict(lambd=0.05, alpha=0.5, t0=2.0, weight_decay=0.1)),
    ("asgd_no_decay_bias", "asgd", 0.05, {"weight_decay": 0.3, "t0": 3.0}, False, O.ASGD, dict(weight_decay=0.3, t0=3.0)),
    ("rprop_default", "rprop", 0.01, {}, True, O.Rprop, {}),
    # Step sizes grow 0.02 -> 0.03 -> 0.045 -> 0.05 (max) and shrink to 0.005 (min) within 8 steps.
    ("rprop_all", "rprop", 0.02, {"etas": [0.3, 1.5], "step_sizes": [0.005, 0.05]},
     True, O.Rprop, dict(etas=(0.3, 1.5), step_sizes=(0.005, 0.05))),
]

# References: (case name, our optimizer, lr, our options, decay_biases). Options map 1:1 to the
# reference kwargs (pairs as lists).
REF_CASES = [
    ("adafactor_default", "adafactor", 0.01, {}, True),
    # eps1 0.3 clamps small variance estimates; eps2 1.5 exceeds every tensor's RMS; d 1.05 clips less.
    ("adafactor_all", "adafactor", 0.05, {"beta2_decay": -0.5, "eps": [0.3, 1.5], "d": 1.05, "weight_decay": 0.1},
     True),
    ("adafactor_no_decay_bias", "adafactor", 0.05, {"weight_decay": 0.3}, False),
    ("muon_default", "muon", 0.01, {}, True),
    # eps 6 exceeds the Frobenius norm of some momentum matrices, so the clamp acts.
    ("muon_all", "muon", 0.02,
     {"weight_decay": 0.2, "momentum": 0.8, "nesterov": False, "ns_coefficients": [2.0, -1.5, 0.5], "eps": 6.0,
      "ns_steps": 3, "adjust_lr_fn": "original", "adamw_betas": [0.8, 0.9], "adamw_eps": 0.01}, True),
    ("muon_no_decay_bias", "muon", 0.02, {"weight_decay": 0.3}, False),
    ("lion_default", "lion", 0.001, {}, True),
    ("lion_all", "lion", 0.002, {"betas": [0.5, 0.8], "weight_decay": 0.5}, True),
    ("lion_no_decay_bias", "lion", 0.002, {"weight_decay": 0.5}, False),
    ("sgd_schedulefree_default", "sgd-schedulefree", 0.1, {}, True),
    ("sgd_schedulefree_all", "sgd-schedulefree", 0.2,
     {"momentum": 0.7, "weight_decay": 0.1, "warmup_steps": 3, "r": 1.0, "weight_lr_power": 1.0}, True),
    ("sgd_schedulefree_no_decay_bias", "sgd-schedulefree", 0.2, {"weight_decay": 0.3}, False),
    ("adamw_schedulefree_default", "adamw-schedulefree", 0.01, {}, True),
    ("adamw_schedulefree_all", "adamw-schedulefree", 0.02,
     {"betas": [0.8, 0.9], "eps": 1e-2, "weight_decay": 0.1, "warmup_steps": 2, "r": 0.5, "weight_lr_power": 1.5,
      "decay_at_z": True}, True),
    ("adamw_schedulefree_no_decay_bias", "adamw-schedulefree", 0.02, {"weight_decay": 0.3}, False),
    # lr 1 with d0 1e-6 moves the params by ~1e-6 in 8 steps, below float32's resolution
    # near 1; d0 1e-2 makes every step visible (d still adapts: it grows from step 2).
    ("prodigy_default", "prodigy", 1.0, {"d0": 1e-2}, True),
    ("prodigy_all", "prodigy", 0.5,
     {"betas": [0.8, 0.9], "beta3": 0.7, "eps": 1e-3, "weight_decay": 0.1, "decouple": False,
      "use_bias_correction": True, "safeguard_warmup": True, "d0": 2e-2, "d_coef": 2.0, "growth_rate": 1.1}, True),
    ("prodigy_decoupled_no_decay_bias", "prodigy", 1.0, {"d0": 1e-2, "weight_decay": 0.3}, False),
    # beta1 0 (no first moment; the update uses the new d): without bias correction the first
    # steps are ~ dlr / sqrt(1 - beta2) and d grows tenfold a step at lr 1, hence lr 0.1.
    ("prodigy_beta1_zero", "prodigy", 0.1, {"d0": 1e-2, "betas": [0.0, 0.99]}, True),
    # reps_rel 1e-6 moves the params by ~1e-6 (rbar grows only slowly); 1e-2 makes DoG's steps visible.
    ("dog_default", "dog", 1.0, {"reps_rel": 1e-2}, True),
    ("dog_all", "dog", 0.8, {"reps_rel": 1e-3, "weight_decay": 0.1, "eps": 5.0}, True),
    ("dog_init_eta", "dog", 1.0, {"init_eta": 0.01}, True),
    ("dog_no_decay_bias", "dog", 1.0, {"reps_rel": 1e-2, "weight_decay": 0.3}, False),
]
EVAL_POINT = {"sgd-schedulefree", "adamw-schedulefree", "dog"}

# LBFGS: (case name, lr, our options, torch kwargs). The default case converges within its first
# step (20 iterations), so its later steps return at once; the two small cases keep moving and
# between them make every option matter (tolerance_grad and tolerance_change both end the run, so
# one case cannot show both). With max_iter 3 the derived max_eval is 3 * 5 // 4 = 3, which stops
# each step after 2 iterations.
LBFGS_CASES = [
    ("lbfgs_default", 1.0, {}, {}),
    ("lbfgs_strong_wolfe", 1.0, {"line_search": "strong_wolfe"}, dict(line_search_fn="strong_wolfe")),
    ("lbfgs_small", 1.0, {"max_iter": 3, "history_size": 2, "tolerance_grad": 0.01},
     dict(max_iter=3, history_size=2, tolerance_grad=0.01)),
    ("lbfgs_wolfe_max_eval", 1.0, {"line_search": "strong_wolfe", "max_eval": 5, "tolerance_change": 1e-4},
     dict(line_search_fn="strong_wolfe", max_eval=5, tolerance_change=1e-4)),
]


def dumps(value, indent=0):
    """JSON with one line per list of numbers (the fixture stays readable and small)."""
    pad = " " * indent
    if isinstance(value, dict):
        items = [f'{pad} {json.dumps(k)}: {dumps(v, indent + 1).lstrip()}' for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}" if items else pad + "{}"
    if isinstance(value, list) and value and all(isinstance(v, (list, dict)) for v in value):
        return pad + "[\n" + ",\n".join(dumps(v, indent + 1) for v in value) + "\n" + pad + "]"
    return pad + json.dumps(value)


def to_kwargs(options):
    """Our option keys -> reference kwargs (tuples for pairs)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def split(flat):
    out, offset = [], 0
    for t, n in zip(TENSORS, SIZES):
        out.append(np.asarray(flat[offset:offset + n], dtype=np.float64).reshape(t["shape"]))
        offset += n
    return out


def flat(arrays):
    """The float64 results, to 12 significant digits (far below any test's tolerance)."""
    return [float(f"{x:.12g}") for x in np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])]


def make_data():
    gen = torch.Generator().manual_seed(20240611)
    n = sum(SIZES)
    params = torch.randn(n, generator=gen, dtype=torch.float32)
    # A persistent direction plus noise, as along a real descent: the params drift, so Prodigy's
    # d and DoG's distance grow as they would in training (pure noise leaves Prodigy's d at d0).
    drift = torch.randn(n, generator=gen, dtype=torch.float32)
    grads = [drift + torch.randn(n, generator=gen, dtype=torch.float32) for _ in range(STEPS)]
    a = torch.rand(n, generator=gen, dtype=torch.float32) * 2.5 + 0.5  # curvatures in [0.5, 3)
    c = torch.randn(n, generator=gen, dtype=torch.float32)
    return params, grads, a, c


def torch_tensors(params):
    out, offset = [], 0
    for t, n in zip(TENSORS, SIZES):
        out.append(params[offset:offset + n].clone().reshape(t["shape"]).requires_grad_(True))
        offset += n
    return out


def run_torch(cls, kwargs, decay_biases, params, grads, record_ax=False):
    ts = torch_tensors(params)
    if not decay_biases:
        wd = kwargs["weight_decay"]
        kw = {k: v for k, v in kwargs.items() if k != "weight_decay"}
        groups = [{"params": [t for t, d in zip(ts, TENSORS) if not d["bias"]], "weight_decay": wd},
                  {"params": [t for t, d in zip(ts, TENSORS) if d["bias"]], "weight_decay": 0.0}]
        opt = cls(groups, **kw)
    else:
        opt = cls(ts, **kwargs)
    after, ax_after = [], []
    for g in grads:
        for t, gt in zip(ts, torch_tensors(g)):
            t.grad = gt.detach().clone()
        opt.step()
        after.append(torch.cat([t.detach().reshape(-1) for t in ts]).tolist())
        if record_ax:
            ax_after.append(torch.cat([opt.state[t]["ax"].reshape(-1) for t in ts]).tolist())
    return after, ax_after


def run_reference(name, lr, options, decay_biases, params, grads):
    opt = R.REFERENCES[name](TENSORS, lr, decay_biases=decay_biases, **to_kwargs(options))
    p = split(params.double().numpy())
    after, eval_after = [], []
    for g in grads:
        opt.step(p, split(g.double().numpy()))
        after.append(flat(p))
        eval_after.append(flat(opt.eval_params(p)))
    return after, eval_after, opt


def lbfgs_value_and_grad(flat_p, a, c):
    """f and its gradient, in float32, in this order of operations (elementwise ops are exact to
    reproduce; only the sum's order is torch's own):
        e = p - c;  q = e * e
        f = sum((0.5 * a) * q + (0.05 * q) * q)
        g = (a + 0.2 * q) * e          (= a e + 0.2 e^3)"""
    e = flat_p - c
    q = e * e
    f = ((0.5 * a) * q + (0.05 * q) * q).sum()
    g = (a + 0.2 * q) * e
    return f, g


def run_lbfgs(lr, kwargs, params, a, c, steps=LBFGS_STEPS):
    ts = torch_tensors(params)
    opt = O.LBFGS(ts, lr=lr, **kwargs)
    after, losses = [], []

    def closure():
        with torch.no_grad():
            f, g = lbfgs_value_and_grad(torch.cat([t.reshape(-1) for t in ts]), a, c)
            offset = 0
            for t, n in zip(ts, SIZES):
                t.grad = g[offset:offset + n].reshape(t.shape).clone()
                offset += n
        return f

    for _ in range(steps):
        losses.append(float(opt.step(closure)))
        after.append(torch.cat([t.detach().reshape(-1) for t in ts]).tolist())
    return after, losses, opt


def build():
    params, grads, a, c = make_data()
    cases = []
    for name, ours, lr, options, decay_biases, cls, kwargs in TORCH_CASES:
        after, ax_after = run_torch(cls, dict(kwargs, lr=lr), decay_biases, params, grads, record_ax=ours == "asgd")
        case = {"name": name, "optimizer": ours, "lr": lr, "options": options, "decay_biases": decay_biases,
                "reference": f"torch.optim.{cls.__name__}", "after": after}
        if ax_after:
            case["ax_after"] = ax_after
        cases.append(case)
    for name, ours, lr, options, decay_biases in REF_CASES:
        after, eval_after, _ = run_reference(ours, lr, options, decay_biases, params, grads)
        case = {"name": name, "optimizer": ours, "lr": lr, "options": options, "decay_biases": decay_biases,
                "reference": f"tools/optim_references.py:{R.REFERENCES[ours].__name__}", "after": after}
        if ours in EVAL_POINT:
            case["eval_after"] = eval_after
        cases.append(case)
    lbfgs = []
    for name, lr, options, kwargs in LBFGS_CASES:
        after, losses, _ = run_lbfgs(lr, kwargs, params, a, c)
        lbfgs.append({"name": name, "lr": lr, "options": options, "after": after, "losses": losses})
    return {
        "generator": "tools/make_field_fixtures.py",
        "torch": torch.__version__,
        "tensors": TENSORS,
        "params": params.tolist(),
        "grads": [g.tolist() for g in grads],
        "cases": cases,
        "lbfgs": {"function": "f(p) = sum_i 0.5*a_i*(p_i - c_i)^2 + 0.05*(p_i - c_i)^4 over the 51 flat params "
                              "(w, k, b), in float32: e = p - c; q = e*e; f = sum((0.5*a)*q + (0.05*q)*q) "
                              "(torch's sum); gradient, set directly (not autograd): g = (a + 0.2*q)*e. "
                              "'losses' holds what each step() returned (f at the start of the step)",
                  "a": a.tolist(), "c": c.tolist(), "cases": lbfgs},
    }


# ---------------------------------------------------------------------------------------------
# --check: self-tests of the references and of the fixture's choices.
# ---------------------------------------------------------------------------------------------
F32 = np.float32


def fma(a, b, c):
    """Fused multiply-add in float32 (exact product and sum in long double, one rounding to float32;
    double rounding is possible but rare)."""
    return (np.asarray(a, np.longdouble) * np.asarray(b, np.longdouble) + np.asarray(c, np.longdouble)).astype(F32)


class Emulation:
    """float32 NumPy emulations of torch 1.13's single-tensor NAdam, RAdam, Adamax, ASGD and Rprop,
    written from tools/optim_references.md. `fused` follows torch's CPU kernels (add with alpha and
    addcmul are fused multiply-adds); without it, plain float32 operations as a C++ loop built with
    -ffp-contract=off would do them."""

    def __init__(self, name, lr, options, decay_biases, fused):
        self.name, self.lr, self.o, self.fused = name, lr, options, fused
        self.decay = [0.0 if t["bias"] and not decay_biases else options.get("weight_decay", 0.0) for t in TENSORS]
        self.t = 0
        self.state = None

    def madd(self, x, alpha, y):
        """y + alpha * x (torch: y.add_(x, alpha=alpha))."""
        return fma(x, alpha, y) if self.fused else (y + F32(alpha) * x).astype(F32)

    def step(self, params, grads):
        self.t += 1
        if self.state is None:
            self.state = [self.init(p) for p in params]
        return [self.update(i, p, g, s) for i, (p, g, s) in enumerate(zip(params, grads, self.state))]

    def init(self, p):
        z = np.zeros_like(p)
        if self.name == "nadam":
            return {"m": z, "v": z.copy(), "mu_product": F32(1.0)}
        if self.name == "radam":
            return {"m": z, "v": z.copy()}
        if self.name == "adamax":
            return {"m": z, "u": z.copy()}
        if self.name == "asgd":
            return {"ax": z, "eta": F32(self.lr), "mu": F32(1.0)}
        if self.name == "rprop":
            return {"prev": z, "step_size": np.full_like(p, F32(self.lr))}
        raise KeyError(self.name)

    def moments(self, g, s, b1, b2):
        s["m"] = self.madd(g, F32(1 - b1), (s["m"] * F32(b1)).astype(F32))
        if self.fused:  # addcmul: fma(value * g, g, v)
            s["v"] = fma((F32(1 - b2) * g).astype(F32), g, (s["v"] * F32(b2)).astype(F32))
        else:
            s["v"] = ((s["v"] * F32(b2)) + (F32(1 - b2) * g) * g).astype(F32)

    def update(self, i, p, g, s):
        o, lr, t = self.o, self.lr, float(self.t)
        wd = self.decay[i]
        if wd != 0 and self.name != "rprop":
            g = self.madd(p, F32(wd), g)
        if self.name == "nadam":
            b1, b2 = o.get("betas", (0.9, 0.999))
            md, eps = o.get("momentum_decay", 4e-3), o.get("eps", 1e-8)
            mu = b1 * (1.0 - 0.5 * 0.96 ** (t * md))
            mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * md))
            s["mu_product"] = F32(s["mu_product"] * F32(mu))
            mu_product_next = F32(F32(s["mu_product"] * F32(mu)) * F32(mu_next))  # torch 1.13: an extra mu
            self.moments(g, s, b1, b2)
            denom = (np.sqrt(s["v"] / F32(1 - b2 ** t)) + F32(eps)).astype(F32)
            p = (p + (F32(-lr * (1.0 - mu) / (1.0 - float(s["mu_product"]))) * g) / denom).astype(F32)
            return (p + (F32(-lr * mu_next / (1.0 - float(mu_product_next))) * s["m"]) / denom).astype(F32)
        if self.name == "radam":
            b1, b2 = o.get("betas", (0.9, 0.999))
            eps = o.get("eps", 1e-8)
            bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
            self.moments(g, s, b1, b2)
            corrected = (s["m"] / F32(bc1)).astype(F32)
            rho_inf = 2 / (1 - b2) - 1
            rho_t = rho_inf - 2 * t * (b2 ** t) / bc2
            if rho_t > 5.0:
                rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
                adaptive = ((F32(1) / (np.sqrt(s["v"]) + F32(eps)).astype(F32)) * F32(math.sqrt(bc2))).astype(F32)
                return (p - ((corrected * F32(lr)) * adaptive).astype(F32) * F32(rect)).astype(F32)
            return (p - corrected * F32(lr)).astype(F32)
        if self.name == "adamax":
            b1, b2 = o.get("betas", (0.9, 0.999))
            eps = o.get("eps", 1e-8)
            s["m"] = self.madd(g, F32(1 - b1), (s["m"] * F32(b1)).astype(F32))
            s["u"] = np.maximum((s["u"] * F32(b2)).astype(F32), (np.abs(g) + F32(eps)).astype(F32))
            clr = lr / (1 - b1 ** t)
            return (p + (F32(-clr) * s["m"]) / s["u"]).astype(F32)
        if self.name == "asgd":
            lambd, alpha, t0 = o.get("lambd", 1e-4), o.get("alpha", 0.75), o.get("t0", 1e6)
            p = (p * F32(1 - lambd * float(s["eta"]))).astype(F32)
            p = self.madd(g, F32(-float(s["eta"])), p)
            if float(s["mu"]) != 1:
                s["ax"] = (s["ax"] + ((p - s["ax"]) * s["mu"]).astype(F32)).astype(F32)
            else:
                s["ax"] = p.copy()
            s["eta"] = F32(lr / math.pow(1 + lambd * lr * t, alpha))
            s["mu"] = F32(1 / max(1, t - t0))
            return p
        if self.name == "rprop":
            etaminus, etaplus = o.get("etas", (0.5, 1.2))
            lo, hi = o.get("step_sizes", (1e-6, 50))
            sign = np.sign((g * s["prev"]).astype(F32))
            factor = np.where(sign > 0, F32(etaplus), np.where(sign < 0, F32(etaminus), F32(1))).astype(F32)
            s["step_size"] = np.clip((s["step_size"] * factor).astype(F32), F32(lo), F32(hi))
            g = np.where(factor == F32(etaminus), F32(0), g).astype(F32)
            s["prev"] = g
            return (p - np.sign(g) * s["step_size"]).astype(F32)
        raise KeyError(self.name)


def check_emulations(fixture, failures):
    """The torch-1.13 pseudo-code in optim_references.md, run in float32, against torch."""
    params = np.array(fixture["params"], F32)
    grads = [np.array(g, F32) for g in fixture["grads"]]
    for case in fixture["cases"]:
        if not case["reference"].startswith("torch."):
            continue
        options = to_kwargs(case["options"])
        for fused in (True, False):
            emu = Emulation(case["optimizer"], case["lr"], options, case["decay_biases"], fused)
            p = [np.array(x, F32) for x in np.split(params, np.cumsum(SIZES)[:-1])]
            worst, exact = 0.0, True  # worst: in units of the C++ test's tolerance 1e-6 |want| + 1e-7
            for step, g in enumerate(grads):
                p = emu.step(p, [np.array(x, F32) for x in np.split(g, np.cumsum(SIZES)[:-1])])
                got = np.concatenate(p).astype(np.float64)
                want = np.array(case["after"][step])
                exact &= bool(np.array_equal(got, want))
                worst = max(worst, float(np.max(np.abs(got - want) / (1e-6 * np.abs(want) + 1e-7))))
                if "ax_after" in case:
                    ax = np.concatenate([s["ax"] for s in emu.state]).astype(np.float64)
                    exact &= bool(np.array_equal(ax, np.array(case["ax_after"][step])))
            label = "fused" if fused else "plain"
            print(f"  emulation {label:5} {case['name']:22} bit-exact={exact!s:5} max diff {worst:.2f} x tolerance")
            if (fused and not exact) or worst > 1:
                failures.append(f"emulation {label} {case['name']}")


def check_options_matter(fixture, failures):
    """Every non-default option of every case changes the trajectory: reset it and compare."""
    params, grads, a, c = make_data()
    for name, ours, lr, options, decay_biases, cls, kwargs in TORCH_CASES:
        base, base_ax = run_torch(cls, dict(kwargs, lr=lr), decay_biases, params, grads, ours == "asgd")
        for key in options:
            tk = {"betas": "betas", "etas": "etas", "step_sizes": "step_sizes"}.get(key, key)
            kw = {k: v for k, v in kwargs.items() if k != tk}
            if not decay_biases and key == "weight_decay":
                continue
            after, ax = run_torch(cls, dict(kw, lr=lr), True, params, grads, ours == "asgd")
            if after == base and ax == base_ax:
                failures.append(f"{name}: option {key} changes nothing")
        if not decay_biases and run_torch(cls, dict(kwargs, lr=lr), True, params, grads)[0] == base:
            failures.append(f"{name}: decay_biases changes nothing")
    for name, ours, lr, options, decay_biases in REF_CASES:
        base, base_eval, _ = run_reference(ours, lr, options, decay_biases, params, grads)
        for key in options:
            if not decay_biases and key == "weight_decay":
                continue
            rest = {k: v for k, v in options.items() if k != key}
            after, ev, _ = run_reference(ours, lr, rest, decay_biases, params, grads)
            if np.allclose(after, base, rtol=1e-12, atol=0) and np.allclose(ev, base_eval, rtol=1e-12, atol=0):
                failures.append(f"{name}: option {key} changes nothing")
        if not decay_biases:
            after, _, _ = run_reference(ours, lr, options, True, params, grads)
            if np.allclose(after, base, rtol=1e-12, atol=0):
                failures.append(f"{name}: decay_biases changes nothing")
    for name, lr, options, kwargs in LBFGS_CASES:
        base, base_losses, _ = run_lbfgs(lr, kwargs, params, a, c)
        for key in options:
            tk = {"line_search": "line_search_fn"}.get(key, key)
            after, losses, _ = run_lbfgs(lr, {k: v for k, v in kwargs.items() if k != tk}, params, a, c)
            if after == base and losses == base_losses:
                failures.append(f"{name}: option {key} changes nothing")
    print(f"  options: every non-default option changes its case ({len(failures)} failures so far)")


def check_case_sizes(fixture, failures):
    """Each case's steps are visible in float32 (every step moves the params by well over an ulp),
    and no sign-based update sits near a tie."""
    p0 = np.array(fixture["params"])
    for case in fixture["cases"]:
        prev = p0
        smallest = math.inf
        for after in case["after"]:
            after = np.array(after)
            smallest = min(smallest, float(np.max(np.abs(after - prev) / (np.abs(prev) + 1e-3))))
            prev = after
        if smallest < 1e-4:
            failures.append(f"{case['name']}: a step moves the params by only {smallest:.1e} (relative)")
    print("  sizes: every step of every case moves some value by > 1e-4 relative; largest |value| per case:")
    print("    " + ", ".join(f"{c['name']} {np.max(np.abs(c['after'])):.3g}" for c in fixture["cases"]))


def check_sign_margins(failures):
    """Lion updates by sign(beta1 m + (1 - beta1) g): no argument may be near 0, or float32 and
    float64 could disagree on the sign."""
    params, grads, _, _ = make_data()
    for name, ours, lr, options, decay_biases in REF_CASES:
        if ours != "lion":
            continue
        opt = R.Lion(TENSORS, lr, decay_biases=decay_biases, **to_kwargs(options))
        p = split(params.double().numpy())
        smallest = math.inf
        for g in grads:
            gs = split(g.double().numpy())
            for m, gi in zip(opt.exp_avg, gs):
                smallest = min(smallest, float(np.min(np.abs(m * opt.beta1 + gi * (1 - opt.beta1)))))
            opt.step(p, gs)
        print(f"  lion {name}: smallest |sign argument| {smallest:.1e}")
        if smallest < 1e-5:
            failures.append(f"{name}: a Lion sign argument is {smallest:.1e}")


def check_references(failures):
    """The float64 references against PyTorch where a comparable optimizer exists, and against
    closed forms where one does not."""
    rng = np.random.default_rng(7)
    shapes = [t["shape"] for t in TENSORS]
    p0 = [rng.standard_normal(s) for s in shapes]
    gs = [[rng.standard_normal(s) for s in shapes] for _ in range(STEPS)]

    def report(label, err, tol):
        ok = err <= tol
        print(f"  {label:62} max err {err:.1e} {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(label)

    def torch_run(make, decay_biases=True, wd=0.0):
        ts = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in p0]
        groups = ([{"params": ts[:2], "weight_decay": wd}, {"params": ts[2:], "weight_decay": 0.0}]
                  if not decay_biases else [{"params": ts, "weight_decay": wd}])
        opt = make(groups)
        for g in gs:
            for t, gi in zip(ts, g):
                t.grad = torch.tensor(gi)
            opt.step()
        return [t.detach().numpy() for t in ts]

    def ref_run(cls, lr, **kw):
        opt = cls(TENSORS, lr, **kw)
        p = [x.copy() for x in p0]
        for g in gs:
            opt.step(p, [x.copy() for x in g])
        return p, opt

    # Muon's AdamW part (the bias) = torch.optim.AdamW.
    for wd, betas, eps in ((0.1, (0.9, 0.999), 1e-8), (0.3, (0.8, 0.9), 1e-2)):
        want = torch_run(lambda g: O.AdamW(g, lr=0.01, betas=betas, eps=eps), wd=wd)
        got, _ = ref_run(R.Muon, 0.01, weight_decay=wd, adamw_betas=betas, adamw_eps=eps)
        report(f"muon bias (AdamW part) vs torch.optim.AdamW wd={wd}", float(np.max(np.abs(got[2] - want[2]))), 1e-13)

    # Muon's matrices: with momentum 0 and no decay, the update is lr_adj * NS(g); NS(g) is close to
    # the orthogonal polar factor U V^T (singular values in about [0.5, 1.2] after 5 steps).
    m = rng.standard_normal((4, 6))
    o = R.newton_schulz(m, (3.4445, -4.7750, 2.0315), 5, 1e-7)
    sv = np.linalg.svd(o, compute_uv=False)
    report("muon Newton-Schulz singular values within [0.5, 1.25]", 0.0 if sv.min() > 0.5 and sv.max() < 1.25 else 1.0,
           0.0)
    exact = R.newton_schulz(m, (1.875, -1.25, 0.375), 60, 1e-7)  # the convergent quintic -> U V^T
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    report("muon Newton-Schulz (convergent coefficients) = U V^T", float(np.max(np.abs(exact - u @ vt))), 1e-10)
    for fn, want_lr in (("original", 0.01 * math.sqrt(max(1, 3 / 8))), ("match_rms_adamw", 0.01 * 0.2 * math.sqrt(8))):
        opt = R.Muon(TENSORS, 0.01, weight_decay=0.0, momentum=0.5, nesterov=False, adjust_lr_fn=fn)
        p = [x.copy() for x in p0]
        opt.step(p, [x.copy() for x in gs[0]])
        ns = R.newton_schulz(0.5 * gs[0][1].reshape(3, 8), opt.ns_coefficients, 5, 1e-7).reshape(3, 2, 2, 2)
        report(f"muon conv kernel step 1, {fn}", float(np.max(np.abs(p[1] - (p0[1] - want_lr * ns)))), 1e-14)

    # Prodigy with d held at d0 (d0 large, lr small: d_hat stays below d0) and bias correction is
    # Adam with lr * d0 (eps -> 0 removes the one difference, eps's placement).
    want = torch_run(lambda g: O.Adam(g, lr=1e-3, eps=1e-30))
    got, opt = ref_run(R.Prodigy, 1e-3, d0=1.0, use_bias_correction=True, eps=1e-30)
    report("prodigy (d fixed at d0, bias correction) vs torch.optim.Adam",
           max(float(np.max(np.abs(a - b))) for a, b in zip(got, want)) + (0.0 if opt.d == 1.0 else 1.0), 1e-12)
    # ... and its decoupled decay with growth 1: p *= 1 - wd * dlr = torch AdamW's 1 - lr * wd only
    # when dlr = lr (no bias correction), so compare without the correction against a hand-rolled
    # AdamW without bias correction.
    got, opt = ref_run(R.Prodigy, 1e-3, d0=1.0, eps=1e-30, weight_decay=0.2)
    p = [x.copy() for x in p0]
    ms = [np.zeros_like(x) for x in p0]
    vs = [np.zeros_like(x) for x in p0]
    for g in gs:
        for i in range(3):
            ms[i] = 0.9 * ms[i] + 0.1 * g[i]
            vs[i] = 0.999 * vs[i] + 0.001 * g[i] ** 2
            p[i] = p[i] * (1 - 1e-3 * 0.2) - 1e-3 * ms[i] / np.sqrt(vs[i])
    report("prodigy (d fixed, decoupled decay) vs AdamW without bias correction",
           max(float(np.max(np.abs(a - b))) for a, b in zip(got, p)) + (0.0 if opt.d == 1.0 else 1.0), 1e-12)
    # d actually adapts in the default configuration, and d_hat follows its definition.
    got, opt = ref_run(R.Prodigy, 1.0)
    report("prodigy d grows from d0 = 1e-6 over 8 steps", 0.0 if opt.d > 1e-6 else 1.0, 0.0)

    # Adafactor, step 1 on a rank-1 gradient: the factored estimate is exact (V = g^2), so
    # U = sign(g), RMS(U) = 1, and p1 = p0 - max(eps2, RMS(p0)) * min(lr, 1) * sign(g).
    u, v = rng.standard_normal(4), rng.standard_normal(6)
    g1 = [np.outer(u, v), np.einsum("a,b,c,d->abcd", rng.standard_normal(3), rng.standard_normal(2),
                                     rng.standard_normal(2), rng.standard_normal(2)), rng.standard_normal(3)]
    opt = R.Adafactor(TENSORS, 0.01)
    p = [x.copy() for x in p0]
    opt.step(p, g1)
    err = max(float(np.max(np.abs(p[i] - (p0[i] - max(1e-3, np.sqrt(np.mean(p0[i] ** 2))) * 0.01 * np.sign(g1[i])))))
              for i in range(3))
    report("adafactor step 1, rank-1 gradients: p -= RMS(p) * lr * sign(g)", err, 1e-14)
    # The 4-D kernel is factored per leading (3, 2) index: a gradient rank-1 in each 2x2 block but
    # not across blocks still gives V = g^2 exactly.
    blocks = np.einsum("ab,abc,abd->abcd", rng.standard_normal((3, 2)), rng.standard_normal((3, 2, 2)),
                       rng.standard_normal((3, 2, 2)))
    opt = R.Adafactor(TENSORS, 0.01)
    p = [x.copy() for x in p0]
    opt.step(p, [g1[0], blocks, g1[2]])
    report("adafactor 4-D kernel factored over its last two dims",
           float(np.max(np.abs(p[1] - (p0[1] - np.sqrt(np.mean(p0[1] ** 2)) * 0.01 * np.sign(blocks))))), 1e-14)

    # Lion with beta1 = 0: p -= lr * sign(g) (with decoupled decay first).
    got, _ = ref_run(R.Lion, 0.01, betas=(0.0, 0.99), weight_decay=0.1)
    p = [x.copy() for x in p0]
    for g in gs:
        p = [x * (1 - 0.01 * 0.1) - 0.01 * np.sign(gi) for x, gi in zip(p, g)]
    report("lion, beta1 0 = signSGD with decoupled decay", max(float(np.max(np.abs(a - b))) for a, b in zip(got, p)),
           1e-14)

    # Schedule-free SGD, constant lr, r 0: x is the plain mean of z_1..z_T, z_t = z_{t-1} - lr g_t,
    # and y = momentum x + (1 - momentum) z.
    opt = R.SgdScheduleFree(TENSORS, 0.1, momentum=0.8)
    p = [x.copy() for x in p0]
    zs, z = [], [x.copy() for x in p0]
    for g in gs:
        opt.step(p, [x.copy() for x in g])
        z = [zi - 0.1 * gi for zi, gi in zip(z, g)]
        zs.append(z)
    x = [np.mean([zt[i] for zt in zs], axis=0) for i in range(3)]
    err = max(max(float(np.max(np.abs(a - b))) for a, b in zip(opt.eval_params(p), x)),
              max(float(np.max(np.abs(p[i] - (0.8 * x[i] + 0.2 * z[i])))) for i in range(3)))
    report("sgd-schedulefree: x = mean of z, y = 0.8 x + 0.2 z", err, 1e-13)
    # Warm-up and r: weights (k+1)^r * lr_max^power.
    opt = R.SgdScheduleFree(TENSORS, 0.1, warmup_steps=3, r=1.0, weight_lr_power=1.0)
    p = [x.copy() for x in p0]
    zs, ws, z = [], [], [x.copy() for x in p0]
    for k, g in enumerate(gs):
        opt.step(p, [x.copy() for x in g])
        lr_t = 0.1 * min(1.0, (k + 1) / 3)
        z = [zi - lr_t * gi for zi, gi in zip(z, g)]
        zs.append(z)
        ws.append((k + 1) * lr_t)  # lr_max = lr_t (non-decreasing), power 1
    x = [sum(w * zt[i] for w, zt in zip(ws, zs)) / sum(ws) for i in range(3)]
    report("sgd-schedulefree: warm-up and r weights", max(float(np.max(np.abs(a - b)))
                                                          for a, b in zip(opt.eval_params(p), x)), 1e-13)
    # Schedule-free AdamW: x is the lr_t^2-weighted mean of z, lr_t = lr sqrt(1 - beta2^t).
    opt = R.AdamWScheduleFree(TENSORS, 0.01)
    p = [x.copy() for x in p0]
    zs, ws, z = [], [], [x.copy() for x in p0]
    v = [np.zeros_like(x) for x in p0]
    for k, g in enumerate(gs):
        opt.step(p, [x.copy() for x in g])
        lr_t = 0.01 * math.sqrt(1 - 0.999 ** (k + 1))
        v = [0.999 * vi + 0.001 * gi ** 2 for vi, gi in zip(v, g)]
        z = [zi - lr_t * gi / (np.sqrt(vi) + 1e-8) for zi, gi, vi in zip(z, g, v)]
        zs.append(z)
        ws.append(lr_t ** 2)
    x = [sum(w * zt[i] for w, zt in zip(ws, zs)) / sum(ws) for i in range(3)]
    err = max(max(float(np.max(np.abs(a - b))) for a, b in zip(opt.eval_params(p), x)),
              max(float(np.max(np.abs(p[i] - (0.9 * x[i] + 0.1 * z[i])))) for i in range(3)))
    report("adamw-schedulefree: x = lr_t^2-weighted mean of z, y = 0.9 x + 0.1 z", err, 1e-13)

    # DoG: step 1 moves by eta_0 = reps_rel (1 + ||x0||) / sqrt(||g||^2 + eps); then
    # eta_t = rbar_t / sqrt(G_t) with rbar_t = max_{s<=t} ||x_s - x0||; the average follows
    # the polynomial-decay weights.
    opt = R.DoG(TENSORS, 1.0, reps_rel=1e-3)
    p = [x.copy() for x in p0]
    flat0 = np.concatenate([x.ravel() for x in p0])
    xs, G, rbar, avg = flat0.copy(), 1e-8, 1e-3 * (1 + np.linalg.norm(flat0)), None
    err = 0.0
    for t, g in enumerate(gs, start=1):
        opt.step(p, [x.copy() for x in g])
        gf = np.concatenate([x.ravel() for x in g])
        if t > 1:
            rbar = max(rbar, np.linalg.norm(xs - flat0))
        G += gf @ gf
        xs = xs - rbar / math.sqrt(G) * gf
        w = 9.0 / (8.0 + t)
        avg = xs.copy() if avg is None else (1 - w) * avg + w * xs
        err = max(err, float(np.max(np.abs(np.concatenate([x.ravel() for x in p]) - xs))),
                  float(np.max(np.abs(np.concatenate([x.ravel() for x in opt.eval_params(p)]) - avg))))
    report("dog: eta = rbar / sqrt(G), polynomial-decay average", err, 1e-13)


def run_lbfgs_flat(lr, kwargs, p, a, c, steps=LBFGS_STEPS):
    """LBFGS on one flat tensor of the 51 values (the same algorithm: LBFGS flattens anyway)."""
    t = p.clone().requires_grad_(True)
    opt = O.LBFGS([t], lr=lr, **kwargs)
    after, losses = [], []

    def closure():
        with torch.no_grad():
            f, g = lbfgs_value_and_grad(t, a, c)
            t.grad = g.clone()
        return f

    for _ in range(steps):
        losses.append(float(opt.step(closure)))
        after.append(t.detach().clone())
    return after, losses


def check_lbfgs(failures):
    """How far each LBFGS case moves when only the order of its sums changes (the 51 values
    permuted: every elementwise operation is the same, every dot product and sum adds in another
    order), as a float32 C++ version with its own summation order would; and which of LBFGS's
    scalars are float32 tensors (the notes rely on this)."""
    params, _, a, c = make_data()
    for name, lr, options, kwargs in LBFGS_CASES:
        base, base_losses = run_lbfgs_flat(lr, kwargs, params, a, c)
        dp = dl = 0.0
        for seed in range(5):
            perm = torch.randperm(len(params), generator=torch.Generator().manual_seed(seed))
            inv = torch.argsort(perm)
            after, losses = run_lbfgs_flat(lr, kwargs, params[perm], a[perm], c[perm])
            dp = max(dp, max(float(((x - y[inv]).abs() / (x.abs() + 1e-3)).max()) for x, y in zip(base, after)))
            dl = max(dl, max(abs(x - y) / (abs(x) + 1e-6) for x, y in zip(base_losses, losses)))
        print(f"  lbfgs {name:22} summation order alone moves params {dp:.1e} (rel, floor 1e-3), "
              f"losses {dl:.1e} (rel, floor 1e-6); losses {' '.join(f'{x:.4g}' for x in base_losses)}")
        if dp > 1e-4 or dl > 1e-4:
            failures.append(f"{name}: too sensitive to the order of sums")
    _, _, opt = run_lbfgs(1.0, {}, params, a, c, steps=2)
    state = opt.state[opt._params[0]]
    kinds = {k: (type(v).__name__ + (f" {v.dtype}" if torch.is_tensor(v) else "")) for k, v in state.items()
             if k in ("t", "H_diag", "prev_loss", "n_iter", "func_evals")}
    kinds["ro[0]"] = f"{type(state['ro'][0]).__name__} {state['ro'][0].dtype}" if state["ro"] else "-"
    print(f"  lbfgs state kinds after 2 steps: {kinds}")


def main():
    if "--check" in sys.argv[1:]:
        fixture = build()
        failures = []
        print("references against PyTorch and closed forms:")
        check_references(failures)
        print("torch 1.13 pseudo-code (optim_references.md) emulated in float32:")
        check_emulations(fixture, failures)
        print("fixture choices:")
        check_options_matter(fixture, failures)
        check_case_sizes(fixture, failures)
        check_sign_margins(failures)
        check_lbfgs(failures)
        if failures:
            print("FAILED:\n  " + "\n  ".join(failures))
            sys.exit(1)
        print("all checks passed")
        return
    fixture = build()
    OUT.write_text(dumps(fixture) + "\n")
    assert json.loads(OUT.read_text()) == fixture
    print(f"wrote {OUT} ({len(fixture['cases'])} cases, {len(fixture['lbfgs']['cases'])} lbfgs cases)")


if __name__ == "__main__":
    main()
