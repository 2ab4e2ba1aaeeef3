#!/usr/bin/python3
"""Writes tests/fixtures/layers.json: what PyTorch computes for the layers
the recipes added, for tests/test_gradients.cpp to match.

- BatchNorm2d and BatchNorm1d in training mode: the output, the input,
  weight and bias gradients for a given output gradient, and the running
  statistics after three forward passes; then the output in eval mode.
- CrossEntropyLoss with label smoothing: the loss and its gradient.

  /usr/bin/python3 tools/make_layer_fixtures.py
"""
import json
import pathlib

import torch
from torch import nn

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "layers.json"


def flat(t):
    return t.detach().flatten().tolist()


def batchnorm_case(norm, shape):
    x = torch.randn(*shape) * 3 + 1.5
    dy = torch.randn(*shape)
    bn = norm(shape[1])
    with torch.no_grad():
        bn.weight.copy_(torch.rand(shape[1]) + 0.5)
        bn.bias.copy_(torch.randn(shape[1]))
    weight, bias = flat(bn.weight), flat(bn.bias)
    bn.train()
    xs = x.clone().requires_grad_(True)
    y = bn(xs)
    y.backward(dy)
    case = {"shape": list(shape), "x": flat(x), "dy": flat(dy), "weight": weight, "bias": bias, "y": flat(y),
            "dx": flat(xs.grad), "dweight": flat(bn.weight.grad), "dbias": flat(bn.bias.grad)}
    # Two more passes on other batches: the running statistics after three.
    more = [torch.randn(*shape) * 2 - 1, torch.randn(*shape) + 4]
    with torch.no_grad():
        for batch in more:
            bn(batch)
    case["more"] = [flat(b) for b in more]
    case["running_mean"] = flat(bn.running_mean)
    case["running_var"] = flat(bn.running_var)
    case["num_batches_tracked"] = int(bn.num_batches_tracked)
    bn.eval()
    with torch.no_grad():
        case["y_eval"] = flat(bn(x))
    return case


def main():
    torch.manual_seed(1234)
    fixture = {"generator": "tools/make_layer_fixtures.py", "torch": torch.__version__,
               "batchnorm2d": batchnorm_case(nn.BatchNorm2d, (4, 3, 5, 6)),
               "batchnorm1d": batchnorm_case(nn.BatchNorm1d, (7, 5))}
    logits = torch.randn(6, 10) * 4
    labels = torch.tensor([3, 0, 9, 3, 7, 1])
    smoothing = 0.1
    z = logits.clone().requires_grad_(True)
    loss = nn.functional.cross_entropy(z, labels, label_smoothing=smoothing)
    loss.backward()
    fixture["label_smoothing"] = {"smoothing": smoothing, "logits": flat(logits), "labels": labels.tolist(),
                                  "loss": loss.item(), "dlogits": flat(z.grad)}
    OUT.write_text(json.dumps(fixture) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
