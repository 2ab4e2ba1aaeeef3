#!/usr/bin/python3
"""Checkpoints read by PyTorch (Debian's python3-torch, a test dependency
only): for every model `mnist train` builds, batch normalisation, dropout and
--ema included, tools/pytorch_eval.py loads the checkpoint into torch.nn
modules with load_state_dict(strict=True) and gets the same test accuracy
(the same number of correct images) and the same loss as `mnist eval`.

    /usr/bin/python3 tests/torch/test_pytorch_eval.py --binary build/mnist --data data/mnist
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {done.returncode}: {done.stderr}")
    return done.stdout


class PyTorchEvalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mnist-torch-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def check(self, name, *train_args):
        model = os.path.join(self.dir, f"{name}.safetensors")
        run(ARGS.binary, "train", *train_args, "--epochs", "1", "--train-samples", "1200", "--data", ARGS.data,
            "--save", model, "--log-every", "1000")
        ours = json.loads(run(ARGS.binary, "eval", model, "--data", ARGS.data, "--json"))
        theirs = json.loads(run(sys.executable, os.path.join(ROOT, "tools", "pytorch_eval.py"), model, ARGS.data))
        self.assertEqual(theirs["samples"], 10000)
        self.assertEqual(theirs["correct"], round(ours["accuracy"] * 10000), name)
        self.assertAlmostEqual(theirs["loss"], ours["loss"], delta=1e-4 * max(1.0, ours["loss"]), msg=name)

    def test_the_course_cnn(self):
        self.check("cnn")

    def test_the_mlp_and_softmax_regression(self):
        self.check("mlp", "--model", "mlp")
        self.check("linear", "--model", "linear")

    def test_the_speedrun_model_with_batch_normalisation(self):
        self.check("speed", "--recipe", "speedrun")

    def test_the_best_model_with_dropout_augmentation_and_ema(self):
        self.check("best", "--recipe", "best", "--ema", "0.99", "--label-smoothing", "0.1")


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
