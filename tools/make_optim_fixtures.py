#!/usr/bin/python3
"""Writes tests/fixtures/optim.json: exact-value references for the optimizers.

Each case applies a fixed sequence of gradients to two parameter tensors, a
weight "w" (7 values) and a bias "b" (3 values), with torch.optim, and records
the parameters after every step. The C++ test replays the same gradients and
compares. Hyperparameters are chosen so that every option changes the result.

Run with Debian's PyTorch:  /usr/bin/python3 tools/make_optim_fixtures.py
"""
import json
import pathlib

import torch

STEPS = 6
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "optim.json"

# (name, torch class, kwargs for torch, our optimizer name, our options)
CASES = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1), "sgd", {}),
    ("sgd_weight_decay", torch.optim.SGD, dict(lr=0.1, weight_decay=0.3), "sgd", {"weight_decay": 0.3}),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.05, momentum=0.9), "sgd", {"momentum": 0.9}),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3), "sgd",
     {"momentum": 0.8, "dampening": 0.3}),
    ("sgd_nesterov_wd", torch.optim.SGD, dict(lr=0.05, momentum=0.7, nesterov=True, weight_decay=0.1), "sgd",
     {"momentum": 0.7, "nesterov": True, "weight_decay": 0.1}),
]


def main():
    gen = torch.Generator().manual_seed(1234)
    w0 = torch.randn(7, generator=gen, dtype=torch.float32)
    b0 = torch.randn(3, generator=gen, dtype=torch.float32)
    grads = [(torch.randn(7, generator=gen), torch.randn(3, generator=gen)) for _ in range(STEPS)]
    cases = []
    for name, cls, kwargs, ours, options in CASES:
        w = w0.clone().requires_grad_(True)
        b = b0.clone().requires_grad_(True)
        opt = cls([w, b], **kwargs)
        after = []
        for gw, gb in grads:
            w.grad = gw.clone()
            b.grad = gb.clone()
            opt.step()
            after.append(torch.cat([w.detach(), b.detach()]).tolist())
        cases.append({"name": name, "optimizer": ours, "lr": kwargs["lr"], "options": options, "after": after})
    fixture = {
        "generator": "tools/make_optim_fixtures.py",
        "torch": torch.__version__,
        "params": torch.cat([w0, b0]).tolist(),
        "grads": [torch.cat(g).tolist() for g in grads],
        "cases": cases,
    }
    OUT.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {OUT} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
