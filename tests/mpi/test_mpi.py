#!/usr/bin/python3
"""MPI tests of the launcher (docs/mpi.md), with Debian's real mpirun:

    /usr/bin/python3 tests/mpi/test_mpi.py --binary build/mnist --data data/mnist

- data-parallel training under mpirun -n 1, 2 and 3 (oversubscribed, any
  --threads) gives the weights of one process to the bit, LBFGS included;
- a run started under mpirun resumes in one process and the other way round;
- compare's summary is the same to the digit for every rank count, and a
  rerun skips the runs already done;
- a rank killed mid-run stops every rank within seconds, each naming it,
  and the last checkpoint stays loadable and resumable;
- ranks started with different flags are refused at the start.
Running as root sets OpenMPI's allow-run-as-root variables (as the scripts do).
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest

ARGS = None


def environment():
    env = dict(os.environ)
    # OpenMPI refuses to run as root unless told it is meant.
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    # More ranks than cores on this 2-core machine.
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    env["MNIST_DATA"] = ARGS.data
    return env


def mnist(*args, ranks=0, cwd=None, timeout=600, check=True):
    """Runs the binary, under mpirun -n RANKS when ranks > 0. Returns the completed process."""
    command = [ARGS.binary] + [str(a) for a in args]
    if ranks:
        command = ["mpirun", "-n", str(ranks)] + command
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done


def tensors(path):
    """The tensors of a safetensors file as raw bytes, and its metadata."""
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = blob[8 + n:]
    return {k: data[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in header.items()}, meta


class MpiTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mnist-mpi-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertSameState(self, a, b):
        ta, ma = tensors(a)
        tb, mb = tensors(b)
        self.assertEqual(sorted(ta), sorted(tb), "the checkpoints hold different tensors")
        different = [k for k in ta if ta[k] != tb[k]]
        self.assertEqual(different, [], f"{a} and {b} differ in these tensors")
        for key in ("optim.steps", "optim.scalars", "train.epoch", "train.batch"):
            self.assertEqual(ma.get(key), mb.get(key), f"metadata {key}")

    def test_training_equals_one_process_for_any_rank_count(self):
        run = ["train", "--model", "mlp", "--optimizer", "adam", "--epochs", "2", "--train-samples", "3000",
               "--log-every", "10", "--seed", "5"]
        one = mnist(*run, "--threads", "2", "--save", self.path("one.safetensors"), "--metrics", self.path("one.jsonl"))
        for ranks, threads in ((1, 2), (2, 1), (3, 1), (3, 2)):
            with self.subTest(ranks=ranks, threads=threads):
                out = self.path(f"n{ranks}t{threads}.safetensors")
                done = mnist(*run, "--threads", threads, "--save", out, "--metrics", self.path("m.jsonl"), ranks=ranks)
                self.assertSameState(self.path("one.safetensors"), out)
                # Rank 0 alone prints the course's lines and logs.
                self.assertEqual(done.stdout.count("epoch: 0, batch: 0, loss is:"), 1, done.stdout)
                self.assertEqual(one.stdout.splitlines()[1], done.stdout.splitlines()[1], "the first loss line")
                with open(self.path("m.jsonl")) as f:
                    records = [json.loads(line) for line in f]
                self.assertEqual(len([r for r in records if r.get("event") == "final"]), 1, "one final record")

    def test_the_course_cnn_and_lbfgs_split_across_ranks(self):
        cnn = ["train", "--epochs", "1", "--train-samples", "800", "--batch-size", "100"]
        mnist(*cnn, "--save", self.path("cnn1.safetensors"))
        mnist(*cnn, "--threads", "1", "--save", self.path("cnn3.safetensors"), ranks=3)
        self.assertSameState(self.path("cnn1.safetensors"), self.path("cnn3.safetensors"))
        # LBFGS evaluates the batch again inside its step: every evaluation is split too.
        lbfgs = ["train", "--model", "linear", "--optimizer", "lbfgs", "--lr", "0.1", "--max-iter", "4",
                 "--history-size", "5", "--epochs", "1", "--train-samples", "1000"]
        mnist(*lbfgs, "--save", self.path("l1.safetensors"))
        mnist(*lbfgs, "--threads", "1", "--save", self.path("l2.safetensors"), ranks=2)
        self.assertSameState(self.path("l1.safetensors"), self.path("l2.safetensors"))

    def test_recipe_ingredients_split_across_ranks(self):
        # Batch statistics travel with each chunk's gradient; dropout masks and
        # augmented images follow the sample, not the rank that computes it.
        run = ["train", "--recipe", "best", "--epochs", "1", "--train-samples", "600", "--batch-size", "100",
               "--rotate", "15", "--cutout", "6", "--label-smoothing", "0.1", "--ema", "0.9"]
        mnist(*run, "--save", self.path("b1.safetensors"))
        for ranks in (2, 3):
            with self.subTest(ranks=ranks):
                out = self.path(f"b{ranks}.safetensors")
                mnist(*run, "--threads", "1", "--save", out, ranks=ranks)
                self.assertSameState(self.path("b1.safetensors"), out)

    def test_runs_resume_across_rank_counts(self):
        run = ["train", "--model", "mlp", "--optimizer", "nadam", "--epochs", "2", "--train-samples", "2000",
               "--schedule", "cosine"]
        mnist(*run, "--save", self.path("full.safetensors"))
        r = self.path("r.safetensors")
        mnist(*run, "--threads", "1", "--save", r, "--stop-at", "13", ranks=2)    # mpirun, then
        mnist("train", "--resume", r, "--stop-at", "27")                         # one process, then
        mnist("train", "--resume", r, "--threads", "1", ranks=3)              # mpirun again
        self.assertSameState(self.path("full.safetensors"), r)

    def test_compare_summaries_are_the_same_for_every_rank_count(self):
        grid = ["compare", "--optimizers", "sgd,adam,prodigy", "--lr-factors", "0.3,1", "--model", "linear",
                "--train-samples", "1500", "--epochs", "1"]
        mnist(*grid, "--out", self.path("c1"))
        for ranks in (2, 3):
            with self.subTest(ranks=ranks):
                out = self.path(f"c{ranks}")
                mnist(*grid, "--out", out, ranks=ranks)
                for name in ("summary.csv", "summary.md"):
                    with open(os.path.join(self.path("c1"), name)) as a, open(os.path.join(out, name)) as b:
                        self.assertEqual(a.read(), b.read(), f"{name} with {ranks} ranks")
                self.assertEqual(sorted(os.listdir(os.path.join(out, "runs"))),
                                 sorted(os.listdir(os.path.join(self.path("c1"), "runs"))))
        # Interrupted (a run's file missing) and run again: only that run trains.
        os.remove(os.path.join(self.path("c2"), "runs", "adam_lr0.001_seed0.jsonl"))
        done = mnist(*grid, "--out", self.path("c2"), ranks=2)
        self.assertEqual(done.stdout.count("(already done)"), 5, done.stdout)
        self.assertIn("adam_lr0.001_seed0: test accuracy", done.stdout)

    def test_a_killed_rank_stops_every_rank_naming_it(self):
        save = self.path("k.safetensors")
        command = ["mpirun", "-n", "3", ARGS.binary, "train", "--epochs", "50", "--threads", "1", "--save", save,
                   "--checkpoint-every", "20", "--train-samples", "20000"]
        proc = subprocess.Popen(command, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 120
            while not os.path.exists(save) and time.time() < deadline:
                time.sleep(0.2)
            self.assertTrue(os.path.exists(save), "no checkpoint within 120 s")
            ranks = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            # mpirun's children are its ranks, in rank order of their pids.
            victims = sorted(int(p) for p in ranks)
            self.assertEqual(len(victims), 3, f"mpirun's children: {ranks}")
            os.kill(victims[1], signal.SIGKILL)
            killed = time.time()
            out, err = proc.communicate(timeout=30)
            self.assertLess(time.time() - killed, 15, "the other ranks took too long to stop")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertNotEqual(proc.returncode, 0)
        lines = [l for l in err.splitlines() if l.startswith("mnist: rank")]
        self.assertEqual(len(lines), 2, f"each surviving rank prints one line:\n{err}")
        for line in lines:
            self.assertRegex(line, r"^mnist: rank [0-2] of 3: stopping because rank [0-2] \(pid [0-9]+ on .*\) has died$")
        # The last checkpoint is whole, and resumes.
        mnist("eval", save)
        mnist("train", "--resume", save, "--stop-at", str(int(tensors(save)[1]["optim.steps"]) + 5))

    def test_ranks_with_different_flags_are_refused(self):
        command = ["mpirun", "-n", "1", ARGS.binary, "train", "--model", "linear", "--epochs", "1", ":",
                   "-n", "1", ARGS.binary, "train", "--model", "linear", "--epochs", "2"]
        done = subprocess.run(command, env=environment(), capture_output=True, text=True, timeout=120,
                              cwd=self.dir)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("differ from rank 0 in the arguments (rank 1)", done.stderr)
        self.assertFalse(os.path.exists(self.path("mnist.safetensors")), "a refused job wrote a model")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.binary = os.path.abspath(ARGS.binary)
    ARGS.data = os.path.abspath(ARGS.data)
    if shutil.which("mpirun") is None:
        sys.exit("test_mpi: mpirun is missing (Debian package openmpi-bin; scripts/setup.sh installs it)")
    result = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
