#!/usr/bin/python3
"""The PyTorch peer of bench/throughput.cpp: the same CNN, batch, optimizer
and measurements, printed as the same JSON fields.

  /usr/bin/python3 bench/peers/torch_train.py DATA_DIR [THREADS] [TRAIN_STEPS]
"""
import json
import pathlib
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
from pytorch_eval import CourseCNN, read_idx  # noqa: E402


def main():
    data = pathlib.Path(sys.argv[1])
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    train_x = torch.from_numpy(read_idx(data / "train-images-idx3-ubyte").astype(np.float32) / 255).unsqueeze(1)
    train_y = torch.from_numpy(read_idx(data / "train-labels-idx1-ubyte").astype(np.int64))
    test_x = torch.from_numpy(read_idx(data / "t10k-images-idx3-ubyte").astype(np.float32) / 255).unsqueeze(1)
    load_ms = 1000 * (time.perf_counter() - t0)
    torch.manual_seed(0)
    model = CourseCNN()
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    order = torch.randperm(60000)

    def step(b):
        idx = order[(b % 600) * 100:(b % 600) * 100 + 100]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
        loss.backward()
        opt.step()

    for b in range(20):
        step(b)
    t0 = time.perf_counter()
    for b in range(steps):
        step(b)
    train_ips = steps * 100 / (time.perf_counter() - t0)
    with torch.no_grad():
        for x in test_x.split(100):
            model(x)
        t0 = time.perf_counter()
        for x in test_x.split(100):
            model(x)
        eval_ips = len(test_x) / (time.perf_counter() - t0)
        one = test_x[:1]
        times = []
        for _ in range(2000):
            t0 = time.perf_counter()
            torch.softmax(model(one), 1)
            times.append(1e6 * (time.perf_counter() - t0))
    print(json.dumps({"impl": "pytorch", "threads": threads, "load_ms": round(load_ms, 1), "train_ips": round(train_ips),
                      "eval_ips": round(eval_ips), "predict_us": round(statistics.median(times), 1)}))


if __name__ == "__main__":
    main()
