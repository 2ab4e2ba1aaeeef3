#!/usr/bin/python3
"""PyTorch's accuracy for a recipe, to compare ours with: the course CNN,
batch 100, shuffled each epoch, pixels / 255, over several seeds.

  /usr/bin/python3 tools/torch_reference_accuracy.py OPTIMIZER LR EPOCHS SEED... [--threads N]
  e.g. tools/torch_reference_accuracy.py adam 0.001 5 0 1 2
"""
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_eval import CourseCNN, read_idx  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW,
              "adagrad": torch.optim.Adagrad, "rmsprop": torch.optim.RMSprop, "adadelta": torch.optim.Adadelta}


def main():
    args = sys.argv[1:]
    threads = 1
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        del args[i:i + 2]
    name, lr, epochs, seeds = args[0], float(args[1]), int(args[2]), [int(s) for s in args[3:]]
    torch.set_num_threads(threads)
    data = ROOT / "data" / "mnist"
    x = torch.from_numpy(read_idx(data / "train-images-idx3-ubyte").astype(np.float32) / 255).unsqueeze(1)
    y = torch.from_numpy(read_idx(data / "train-labels-idx1-ubyte").astype(np.int64))
    tx = torch.from_numpy(read_idx(data / "t10k-images-idx3-ubyte").astype(np.float32) / 255).unsqueeze(1)
    ty = torch.from_numpy(read_idx(data / "t10k-labels-idx1-ubyte").astype(np.int64))
    for seed in seeds:
        torch.manual_seed(seed)
        model = CourseCNN()
        opt = OPTIMIZERS[name](model.parameters(), lr=lr)
        for _ in range(epochs):
            order = torch.randperm(len(x))
            for b in range(0, len(x), 100):
                idx = order[b:b + 100]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        with torch.no_grad():
            correct = sum((model(a).argmax(1) == b).sum().item() for a, b in zip(tx.split(500), ty.split(500)))
        print(json.dumps({"optimizer": name, "lr": lr, "epochs": epochs, "seed": seed, "accuracy": correct / len(tx)}),
              flush=True)


if __name__ == "__main__":
    main()
