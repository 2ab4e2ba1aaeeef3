#!/usr/bin/python3
"""Writes tests/fixtures/parity.json: PyTorch's loss trajectory for 30 steps of
the course CNN on real MNIST, for every optimizer.

All runs start from tests/fixtures/torch_cnn.safetensors (PyTorch's own
initialisation, written by make_model_fixtures.py) and feed batches of 100
in file order (batch b = training samples 100b .. 100b+99), pixels / 255.
The C++ test runs the same 30 steps and must follow the losses to 1e-4.

  /usr/bin/python3 tools/make_parity_fixtures.py [data/mnist]
"""
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_eval import CourseCNN, load_safetensors, read_idx  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
STEPS, BATCH = 30, 100
# Default settings, except the learning rates of rmsprop and adadelta. Both
# scale each weight's step by its own gradient's recent size, so at their
# default rates a weight whose gradient is zero in exact arithmetic (and
# rounding noise in practice) moves a full step in a random direction:
# RMSProp's first update is +-10*lr whatever the gradient. Two correct
# implementations that sum in different orders then part ways after a few
# steps. At these rates the dynamics stay smooth and the comparison tests
# the implementation, not the chaos. (The exact per-step formulas are
# checked at 1e-6 by tests/fixtures/optim.json.)
OPTIMIZERS = {
    "sgd": (0.01, lambda p, lr: torch.optim.SGD(p, lr=lr)),
    "momentum": (0.01, lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)),
    "adagrad": (0.01, lambda p, lr: torch.optim.Adagrad(p, lr=lr)),
    "rmsprop": (1e-4, lambda p, lr: torch.optim.RMSprop(p, lr=lr)),
    "adadelta": (0.1, lambda p, lr: torch.optim.Adadelta(p, lr=lr)),
    "adam": (0.001, lambda p, lr: torch.optim.Adam(p, lr=lr)),
    "adamw": (0.001, lambda p, lr: torch.optim.AdamW(p, lr=lr)),
}


def main():
    data = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "data" / "mnist")
    images = read_idx(data / "train-images-idx3-ubyte")[: STEPS * BATCH].astype(np.float32) * np.float32(1 / 255)
    labels = read_idx(data / "train-labels-idx1-ubyte")[: STEPS * BATCH].astype(np.int64)
    x_all = torch.from_numpy(images).unsqueeze(1)
    y_all = torch.from_numpy(labels)
    state, _ = load_safetensors(ROOT / "tests" / "fixtures" / "torch_cnn.safetensors")
    losses, lrs = {}, {}
    for name, (lr, make) in OPTIMIZERS.items():
        model = CourseCNN()
        model.load_state_dict(state)
        opt = make(model.parameters(), lr)
        lrs[name] = lr
        trajectory = []
        for b in range(STEPS):
            x, y = x_all[b * BATCH:(b + 1) * BATCH], y_all[b * BATCH:(b + 1) * BATCH]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            trajectory.append(loss.item())
        losses[name] = trajectory
        print(f"{name}: {trajectory[0]:.4f} -> {trajectory[-1]:.4f}")
    out = ROOT / "tests" / "fixtures" / "parity.json"
    out.write_text(json.dumps({"generator": "tools/make_parity_fixtures.py", "torch": torch.__version__,
                               "init": "torch_cnn.safetensors", "steps": STEPS, "batch": BATCH,
                               "lrs": lrs, "losses": losses}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
