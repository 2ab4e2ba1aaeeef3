#!/usr/bin/python3
"""Loads a checkpoint written by `mnist train` into PyTorch and evaluates it.

Shows that checkpoints are plain PyTorch state_dicts in safetensors form, and
cross-checks our accuracy with PyTorch's. Needs only Debian's python3-torch
(the safetensors Python package is not required: the format is 8 bytes of
header length, a JSON header, then raw little-endian tensors).

  /usr/bin/python3 tools/pytorch_eval.py mnist.safetensors data/mnist
"""
import json
import struct
import sys

import numpy as np
import torch
from torch import nn


def load_safetensors(path):
    """Returns (state_dict of torch tensors, metadata dict)."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    meta = header.pop("__metadata__", {})
    state = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = {"F32": "<f4", "I64": "<i8"}[info["dtype"]]
        array = np.frombuffer(data[begin:end], dtype=dtype).reshape(info["shape"])
        state[name] = torch.from_numpy(array.copy())
    return state, meta


class CourseCNN(nn.Module):
    """The course network; attribute names match the checkpoint's tensor names."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, padding=2)
        self.conv2 = nn.Conv2d(20, 20, 5, padding=2)
        self.fc = nn.Linear(980, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))


class Layers(nn.Module):
    """Any network `mnist train` builds, from the checkpoint's "layers"
    metadata: the layers in order, with parameters under their own names, so
    that load_state_dict takes the checkpoint as it is."""

    def __init__(self, layers, input_shape):
        super().__init__()
        channels, height, width = input_shape
        features = None  # set once a linear layer has flattened the input
        self.steps = []
        for spec in layers:
            kind = spec["kind"]
            if kind == "conv2d":
                module = nn.Conv2d(channels, spec["out"], spec["kernel"], stride=spec["stride"], padding=spec["pad"])
                height = (height + 2 * spec["pad"] - spec["kernel"]) // spec["stride"] + 1
                width = (width + 2 * spec["pad"] - spec["kernel"]) // spec["stride"] + 1
                channels = spec["out"]
            elif kind == "maxpool2d":
                module = nn.MaxPool2d(spec["kernel"], spec["stride"])
                height = (height - spec["kernel"]) // spec["stride"] + 1
                width = (width - spec["kernel"]) // spec["stride"] + 1
            elif kind == "relu":
                module = nn.ReLU()
            elif kind == "dropout":
                module = nn.Dropout(spec["rate"])
            elif kind == "batchnorm":
                norm = nn.BatchNorm1d if features is not None else nn.BatchNorm2d
                module = norm(features or channels, eps=spec["eps"], momentum=spec["momentum"])
            elif kind == "linear":
                self.steps.append(nn.Flatten(1))
                module = nn.Linear(features or channels * height * width, spec["out"])
                features = spec["out"]
            else:
                raise ValueError(f"unknown layer kind {kind!r}")
            self.steps.append(module)
        # Parameters under the checkpoint's names ("fc1.weight"); the
        # layers without any registered too, so that eval() reaches dropout.
        names = iter(spec.get("name") for spec in layers)
        for i, step in enumerate(self.steps):
            name = next(names) if not isinstance(step, nn.Flatten) else None
            self.add_module(name or f"step{i}", step)

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return x


def build_model(meta):
    """The network a checkpoint's metadata describes."""
    if "layers" in meta:
        shape = json.loads(meta.get("input_shape", "[1, 28, 28]"))
        return Layers(json.loads(meta["layers"]), shape)
    return {"cnn": CourseCNN, "mlp": Mlp, "linear": Linear}[meta.get("model", "cnn")]()


def read_idx(path):
    """An IDX file, raw or gzipped (PATH or PATH.gz)."""
    import gzip
    import os
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
    else:
        with gzip.open(path + ".gz", "rb") as f:
            data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    state, meta = load_safetensors(sys.argv[1])
    model = build_model(meta)
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optim.")})
    model.eval()
    scale, offset = float(meta.get("input_scale", 1 / 255)), float(meta.get("input_offset", 0))
    images = read_idx(f"{sys.argv[2]}/t10k-images-idx3-ubyte").astype(np.float32) * scale + offset
    labels = torch.from_numpy(read_idx(f"{sys.argv[2]}/t10k-labels-idx1-ubyte").astype(np.int64))
    with torch.no_grad():
        logits = model(torch.from_numpy(images).unsqueeze(1))
        loss = nn.functional.cross_entropy(logits, labels).item()
        correct = (logits.argmax(1) == labels).sum().item()
    print(json.dumps({"accuracy": correct / len(labels), "loss": loss, "samples": len(labels), "correct": correct}))


if __name__ == "__main__":
    main()
