#!/usr/bin/python3
"""Writes tests/fixtures/optim.json: exact-value references for the optimizers
and the learning-rate schedules.

Each case applies a fixed sequence of gradients to two parameter tensors, a
weight "w" (7 values) and a bias "b" (3 values), with torch.optim, and records
the parameters after every step. The C++ test replays the same gradients and
compares. Hyperparameters are chosen so that every option changes the result.
Schedules record the learning rate of every step of a short run, and
reduce-on-plateau the rate after each of a fixed list of held-out losses.

Run with Debian's PyTorch:  /usr/bin/python3 tools/make_optim_fixtures.py
"""
import json
import pathlib

import torch

STEPS = 6
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optim.json"

# (name, torch class, kwargs for torch, our optimizer name, our options).
# Hyperparameters are chosen so that every option changes the result.
O = torch.optim
CASES = [
    ("sgd_plain", O.SGD, dict(lr=0.1), "sgd", {}),
    ("sgd_weight_decay", O.SGD, dict(lr=0.1, weight_decay=0.3), "sgd", {"weight_decay": 0.3}),
    ("sgd_momentum", O.SGD, dict(lr=0.05, momentum=0.9), "sgd", {"momentum": 0.9}),
    ("sgd_dampening", O.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3), "sgd",
     {"momentum": 0.8, "dampening": 0.3}),
    ("sgd_nesterov_wd", O.SGD, dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.1), "sgd",
     {"momentum": 0.7, "nesterov": True, "weight_decay": 0.1}),
    ("momentum_default", O.SGD, dict(lr=0.01, momentum=0.9), "momentum", {}),
    ("adagrad", O.Adagrad, dict(lr=0.1), "adagrad", {}),
    ("adagrad_all", O.Adagrad, dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2, eps=0.01, weight_decay=0.2),
     "adagrad", {"lr_decay": 0.05, "initial_accumulator": 0.2, "eps": 0.01, "weight_decay": 0.2}),
    ("rmsprop", O.RMSprop, dict(lr=0.01), "rmsprop", {}),
    ("rmsprop_centered_momentum", O.RMSprop,
     dict(lr=0.01, alpha=0.9, eps=0.01, centered=True, momentum=0.5, weight_decay=0.1), "rmsprop",
     {"alpha": 0.9, "eps": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adadelta", O.Adadelta, dict(lr=1.0), "adadelta", {}),
    ("adadelta_options", O.Adadelta, dict(lr=0.5, rho=0.7, eps=1e-3, weight_decay=0.2), "adadelta",
     {"rho": 0.7, "eps": 1e-3, "weight_decay": 0.2}),
    ("adam", O.Adam, dict(lr=0.01), "adam", {}),
    ("adam_eps_betas_wd", O.Adam, dict(lr=0.01, betas=(0.8, 0.9), eps=0.1, weight_decay=0.3), "adam",
     {"beta1": 0.8, "beta2": 0.9, "eps": 0.1, "weight_decay": 0.3}),
    ("adam_amsgrad", O.Adam, dict(lr=0.01, betas=(0.5, 0.6), amsgrad=True), "adam",
     {"beta1": 0.5, "beta2": 0.6, "amsgrad": True}),
    ("adamw", O.AdamW, dict(lr=0.01), "adamw", {}),
    ("adamw_wd_amsgrad", O.AdamW, dict(lr=0.01, weight_decay=0.5, amsgrad=True, betas=(0.5, 0.6)), "adamw",
     {"weight_decay": 0.5, "amsgrad": True, "beta1": 0.5, "beta2": 0.6}),
]

# Cases where biases are exempt from weight decay: torch gets two groups.
NO_DECAY_BIAS = [
    ("sgd_no_decay_bias", O.SGD, dict(lr=0.1, weight_decay=0.3), "sgd", {"weight_decay": 0.3}),
    ("adamw_no_decay_bias", O.AdamW, dict(lr=0.01, weight_decay=0.5), "adamw", {"weight_decay": 0.5}),
]

EPOCHS, STEPS_PER_EPOCH = 4, 5
TOTAL = EPOCHS * STEPS_PER_EPOCH
S = torch.optim.lr_scheduler
# (name, our schedule options, factory of the torch scheduler, stepped per "epoch" or per "step").
SCHEDULES = [
    ("step", {"name": "step", "step_size": 2, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=2, gamma=0.5), "epoch"),
    ("multistep", {"name": "multistep", "milestones": [1, 3], "gamma": 0.3},
     lambda o: S.MultiStepLR(o, milestones=[1, 3], gamma=0.3), "epoch"),
    ("exponential", {"name": "exponential", "gamma": 0.7}, lambda o: S.ExponentialLR(o, gamma=0.7), "epoch"),
    ("cosine", {"name": "cosine", "min_lr": 0.01}, lambda o: S.CosineAnnealingLR(o, T_max=TOTAL, eta_min=0.01), "step"),
    ("poly_to_zero", {"name": "poly", "end_lr": 0.0, "power": 2.0},
     lambda o: S.PolynomialLR(o, total_iters=TOTAL, power=2.0), "step"),
    ("onecycle", {"name": "onecycle"},
     lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=TOTAL, cycle_momentum=False), "step"),
    ("onecycle_options", {"name": "onecycle", "pct_start": 0.45, "div_factor": 10.0, "final_div_factor": 100.0},
     lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=TOTAL, pct_start=0.45, div_factor=10.0,
                            final_div_factor=100.0, cycle_momentum=False), "step"),
    ("warmup", {"name": "constant", "warmup_steps": 6},
     lambda o: S.LinearLR(o, start_factor=1 / 6, end_factor=1.0, total_iters=5), "step"),
]
# Held-out losses fed to reduce-on-plateau at each epoch's end.
PLATEAU_LOSSES = [1.0, 0.9, 0.95, 0.92, 0.91, 0.95, 0.80, 0.85, 0.85, 0.9]


def run_case(cls, kwargs, w0, b0, grads, groups=None):
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    opt = cls(groups([w, b]) if groups else [w, b], **kwargs)
    after = []
    for gw, gb in grads:
        w.grad = gw.clone()
        b.grad = gb.clone()
        opt.step()
        after.append(torch.cat([w.detach(), b.detach()]).tolist())
    return after


def schedule_lrs(factory, unit):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = factory(opt)
    lrs = []
    for t in range(TOTAL):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if unit == "step" or (t + 1) % STEPS_PER_EPOCH == 0:
            sched.step()
    return lrs


def plateau_lrs():
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = S.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1, threshold=0.05, min_lr=0.02)
    lrs = []
    for loss in PLATEAU_LOSSES:
        sched.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


def main():
    gen = torch.Generator().manual_seed(1234)
    w0 = torch.randn(7, generator=gen, dtype=torch.float32)
    b0 = torch.randn(3, generator=gen, dtype=torch.float32)
    grads = [(torch.randn(7, generator=gen), torch.randn(3, generator=gen)) for _ in range(STEPS)]
    cases = []
    for name, cls, kwargs, ours, options in CASES:
        after = run_case(cls, kwargs, w0, b0, grads)
        cases.append({"name": name, "optimizer": ours, "lr": kwargs["lr"], "options": options, "after": after})
    for name, cls, kwargs, ours, options in NO_DECAY_BIAS:
        decay = kwargs["weight_decay"]
        kw = {k: v for k, v in kwargs.items() if k != "weight_decay"}
        after = run_case(cls, kw, w0, b0, grads,
                         groups=lambda p: [{"params": [p[0]], "weight_decay": decay}, {"params": [p[1]], "weight_decay": 0.0}])
        cases.append({"name": name, "optimizer": ours, "lr": kwargs["lr"],
                      "options": dict(options, decay_biases=False), "after": after})
    schedules = [{"name": name, "options": options, "lrs": schedule_lrs(factory, unit)}
                 for name, options, factory, unit in SCHEDULES]
    fixture = {
        "generator": "tools/make_optim_fixtures.py",
        "torch": torch.__version__,
        "params": torch.cat([w0, b0]).tolist(),
        "grads": [torch.cat(g).tolist() for g in grads],
        "cases": cases,
        "schedule_base_lr": 0.1,
        "schedule_epochs": EPOCHS,
        "schedule_steps_per_epoch": STEPS_PER_EPOCH,
        "schedules": schedules,
        "plateau": {"options": {"name": "plateau", "gamma": 0.5, "patience": 1, "threshold": 0.05, "min_lr": 0.02},
                    "losses": PLATEAU_LOSSES, "lrs": plateau_lrs()},
    }
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
