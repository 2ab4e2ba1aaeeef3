#!/usr/bin/python3
"""Writes tests/fixtures/torch_{cnn,linear}.safetensors and torch_logits.json.

PyTorch builds each model with its own initialisation, saves the state_dict
in safetensors form, and records the logits for a few inputs. The C++ test
loads those files and must reproduce the logits: that pins down the tensor
layouts (OIHW convolution weights, (C,H,W) flattening before the linear
layer) in both directions.

  /usr/bin/python3 tools/make_model_fixtures.py
"""
import json
import pathlib
import struct
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_eval import CourseCNN, Linear  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def save_safetensors(path, state, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, tensor in state.items():
        data = tensor.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    torch.manual_seed(2024)
    inputs = torch.rand(3, 1, 28, 28)
    logits = {}
    for name, cls in (("cnn", CourseCNN), ("linear", Linear)):
        model = cls()
        save_safetensors(OUT / f"torch_{name}.safetensors", model.state_dict(), {"model": name})
        with torch.no_grad():
            logits[name] = model(inputs).tolist()
    fixture = {"generator": "tools/make_model_fixtures.py", "torch": torch.__version__,
               "inputs": inputs.flatten().tolist(), "logits": logits}
    (OUT / "torch_logits.json").write_text(json.dumps(fixture) + "\n")
    print(f"wrote fixtures to {OUT}")


if __name__ == "__main__":
    main()
