#!/usr/bin/python3
"""ONNX export (`mnist export`, docs/formats.md) read by other software:

    /usr/bin/python3 tests/onnx/test_onnx.py --binary build/mnist --data data/mnist

For every model the project trains (a short run of each architecture), the
exported file passes python3-onnx's checker, and OpenCV's dnn module
(python3-opencv) gives the same predictions as `mnist eval` on the 10,000
test images and the same logits to 1e-4. Bad targets and bad checkpoints
are refused with one line.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import cv2
import numpy as np
import onnx

ARGS = None


def mnist(*args, check=True):
    done = subprocess.run([ARGS.binary] + [str(a) for a in args], capture_output=True, text=True, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(f"mnist {' '.join(map(str, args))} exited {done.returncode}: {done.stderr}")
    return done


def test_images():
    with open(os.path.join(ARGS.data, "t10k-images-idx3-ubyte"), "rb") as f:
        raw = f.read()[16:]
    return np.frombuffer(raw, np.uint8).reshape(-1, 1, 28, 28).astype(np.float32)


class OnnxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mnist-onnx-")
        cls.images = test_images()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def check_model(self, name, train_args):
        model, exported = self.path(f"{name}.safetensors"), self.path(f"{name}.onnx")
        mnist("train", *train_args, "--data", ARGS.data, "--save", model, "--log-every", "1000")
        done = mnist("export", model, "--onnx", exported)
        self.assertIn('input "input" N x 1 x 28 x 28', done.stdout)
        onnx.checker.check_model(onnx.load(exported))
        net = cv2.dnn.readNetFromONNX(exported)
        theirs = []
        for start in range(0, len(self.images), 1000):  # the batch size is free: N is a parameter
            net.setInput(self.images[start:start + 1000])
            theirs.append(net.forward().copy())
        theirs = np.concatenate(theirs)
        mnist("eval", model, "--data", ARGS.data, "--logits", self.path(f"{name}.csv"))
        ours = np.loadtxt(self.path(f"{name}.csv"), delimiter=",", dtype=np.float64)
        self.assertEqual(theirs.shape, ours.shape)
        worst = np.max(np.abs(theirs - ours) / np.maximum(1.0, np.abs(ours)))
        self.assertLess(worst, 1e-4, f"{name}: OpenCV's logits differ from ours by {worst:.2e}")
        agree = np.mean(theirs.argmax(1) == ours.argmax(1))
        self.assertEqual(agree, 1.0, f"{name}: OpenCV and mnist eval disagree on {(1 - agree) * 1e4:.0f} images")

    def test_the_course_cnn(self):
        self.check_model("cnn", ["--epochs", "1", "--train-samples", "6000"])

    def test_the_mlp(self):
        self.check_model("mlp", ["--model", "mlp", "--epochs", "1", "--train-samples", "6000"])

    def test_the_recipe_models_with_batch_normalisation_and_dropout(self):
        self.check_model("speed", ["--recipe", "speedrun", "--train-samples", "6000"])
        self.check_model("best", ["--recipe", "best", "--epochs", "1", "--train-samples", "3000"])

    def test_softmax_regression(self):
        self.check_model("linear", ["--model", "linear", "--optimizer", "adam", "--epochs", "1"])

    def test_a_model_trained_on_course_json_scales_inside_the_graph(self):
        # The course's JSON data is scaled to [-1, 1] when its floats say so; the
        # graph still takes pixels 0..255 and applies the checkpoint's scaling.
        course = self.path("mnist.json.gz")
        mnist("convert", "--data", ARGS.data, "--out", course, "--valid", "1000")
        model, exported = self.path("json.safetensors"), self.path("json.onnx")
        mnist("train", "--model", "linear", "--epochs", "1", "--data", course, "--save", model, "--log-every", "1000")
        mnist("export", model, "--onnx", exported)
        net = cv2.dnn.readNetFromONNX(exported)
        net.setInput(self.images[:2000])
        theirs = net.forward()
        mnist("eval", model, "--data", ARGS.data, "--any-data", "--logits", self.path("json.csv"))
        ours = np.loadtxt(self.path("json.csv"), delimiter=",")[:2000]
        self.assertLess(np.max(np.abs(theirs - ours) / np.maximum(1.0, np.abs(ours))), 1e-4)

    def test_bad_targets_and_files_are_refused_in_one_line(self):
        model = self.path("m.safetensors")
        mnist("train", "--model", "linear", "--epochs", "1", "--train-samples", "500", "--data", ARGS.data,
              "--save", model)
        for args, code, text in [
            (["export", model], 2, "--onnx"),
            (["export", model, "--onnx", "-"], 2, "--onnx"),
            (["export", model, "--onnx", self.path("nowhere/m.onnx")], 1, "does not exist"),
            (["export", self.path("absent.safetensors"), "--onnx", self.path("x.onnx")], 1, "absent.safetensors"),
        ]:
            done = mnist(*args, check=False)
            self.assertEqual(done.returncode, code, f"{args}: {done.stderr}")
            self.assertEqual(done.stderr.count("\n"), 1, f"{args}: not one line: {done.stderr!r}")
            self.assertIn(text, done.stderr)
        self.assertFalse(os.path.exists(self.path("x.onnx")))


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.binary, ARGS.data = os.path.abspath(ARGS.binary), os.path.abspath(ARGS.data)
    result = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
