#!/usr/bin/python3
"""Runs the recipes' study behind docs/accuracy.md ("Recipes") and appends
each run's result to a JSON-lines file, skipping runs already there:

    /usr/bin/python3 tools/recipe_study.py PART [--out docs/experiments/recipes.jsonl]

PART is one of
  speedrun   the speedrun recipe over seeds 1-5, timed as whole processes
  ablation   the speedrun without label smoothing, one ingredient changed
             at a time, seeds 1-3
  curve      the speed model at other run lengths (time against accuracy)
  best       the best recipe over seeds 1-5
  best-ablation  the best recipe at 5 epochs, one ingredient left out at a
             time, seeds 1-3
  best-ablation-20  the same at the recipe's 20 epochs
  fashion    the fashion recipe over seeds 0-5 (0 is train's default), and
             two variants on seed 1
Each record: {"part", "name", "seed", "args", "accuracy", "seconds"}, seconds
being the wall time of the whole `mnist train` process.

    /usr/bin/python3 tools/recipe_study.py report

prints each part's runs as a Markdown table: accuracy mean, its standard
error over seeds, the seeds' values, and the mean wall time.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "build", "mnist")

SPEED_NO_LS = ["--recipe", "speedrun", "--label-smoothing", "0"]

PARTS = {
    "speedrun": [("speedrun", ["--recipe", "speedrun"], range(1, 6))],
    # Measured before label smoothing joined the speedrun: each row is the
    # recipe without it (NO_LS), one thing changed.
    "ablation": [
        ("speedrun without label smoothing", SPEED_NO_LS, range(1, 4)),
        ("the course CNN in its place", SPEED_NO_LS + ["--model", "cnn"], range(1, 4)),
        ("Adam's default betas (0.9, 0.999)", SPEED_NO_LS + ["--betas", "0.9", "0.999"], range(1, 4)),
        ("constant lr 0.001, no one-cycle", SPEED_NO_LS + ["--schedule", "constant", "--lr", "0.001"], range(1, 4)),
        ("batch 256", SPEED_NO_LS + ["--batch-size", "256"], range(1, 4)),
        ("batch 64", SPEED_NO_LS + ["--batch-size", "64"], range(1, 4)),
        ("+ label smoothing 0.1 (the recipe)", ["--recipe", "speedrun"], range(1, 4)),
        ("+ EMA 0.99", SPEED_NO_LS + ["--ema", "0.99"], range(1, 4)),
    ],
    "curve": [
        ("speed, 0.5 epoch", ["--recipe", "speedrun", "--steps", "235"], range(1, 4)),
        ("speed, 2 epochs", ["--recipe", "speedrun", "--epochs", "2"], range(1, 4)),
        ("speed, 3 epochs", ["--recipe", "speedrun", "--epochs", "3"], range(1, 4)),
        ("speed, 5 epochs", ["--recipe", "speedrun", "--epochs", "5"], range(1, 4)),
    ],
    "best": [("best", ["--recipe", "best"], range(1, 6))],
    "best-ablation": [
        ("best, 5 epochs", ["--recipe", "best", "--epochs", "5"], range(1, 4)),
        ("- augmentation", ["--recipe", "best", "--epochs", "5", "--rotate", "0", "--zoom", "0", "--shift", "0"],
         range(1, 4)),
        ("- EMA", ["--recipe", "best", "--epochs", "5", "--ema", "0"], range(1, 4)),
        ("- dropout", ["--recipe", "best", "--epochs", "5", "--dropout", "0"], range(1, 4)),
    ],
    # The whole recipe (20 epochs) against the "best" part's runs.
    "best-ablation-20": [
        ("- augmentation", ["--recipe", "best", "--rotate", "0", "--zoom", "0", "--shift", "0"], range(1, 4)),
        ("- EMA", ["--recipe", "best", "--ema", "0"], range(1, 4)),
        ("- dropout", ["--recipe", "best", "--dropout", "0"], range(1, 4)),
    ],
    "fashion": [("fashion", ["--recipe", "fashion"], range(0, 6)),
                ("fashion, 20 epochs", ["--recipe", "fashion", "--epochs", "20"], range(1, 2)),
                ("fashion + cutout 8", ["--recipe", "fashion", "--cutout", "8"], range(1, 2))],
}


def done_runs(path):
    if not os.path.exists(path):
        return set()
    with open(path) as f:
        return {(r["part"], r["name"], r["seed"]) for r in map(json.loads, f)}


def report(path):
    with open(path) as f:
        records = [json.loads(line) for line in f]
    for part in PARTS:
        rows = {}
        for r in records:
            if r["part"] == part:
                rows.setdefault(r["name"], []).append(r)
        if not rows:
            continue
        print(f"\n{part}\n\n| run | accuracy (mean ± se) | seeds | wall time (s) |\n|---|---|---|---|")
        for name, runs in rows.items():
            acc = [r["accuracy"] for r in runs]
            mean = sum(acc) / len(acc)
            se = (sum((a - mean) ** 2 for a in acc) / (len(acc) - 1) / len(acc)) ** 0.5 if len(acc) > 1 else 0.0
            seconds = sum(r["seconds"] for r in runs) / len(runs)
            values = ", ".join(f"{a:.2f}" for a in acc)
            print(f"| {name} | {mean:.3f} ± {se:.3f} | {values} | {seconds:.1f} |")


def main():
    if sys.argv[1:2] == ["report"]:
        report(sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "docs", "experiments", "recipes.jsonl"))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "experiments", "recipes.jsonl"))
    parser.add_argument("--data", default=os.path.join(ROOT, "data", "mnist"))
    args = parser.parse_args()
    done = done_runs(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        for name, flags, seeds in PARTS[args.part]:
            for seed in seeds:
                if (args.part, name, seed) in done:
                    continue
                command = [BINARY, "train", *flags, "--seed", str(seed), "--save", os.path.join(tmp, "m.safetensors"),
                           "--log-every", "1000000"]
                if args.part != "fashion":
                    command += ["--data", args.data]
                start = time.monotonic()
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
                seconds = time.monotonic() - start
                os.remove(os.path.join(tmp, "m.safetensors"))
                accuracy = float(re.search(r"^test accuracy: ([0-9.]+)%", out, re.M).group(1))
                record = {"part": args.part, "name": name, "seed": seed, "args": flags, "accuracy": accuracy,
                          "seconds": round(seconds, 2)}
                with open(args.out, "a") as f:
                    f.write(json.dumps(record) + "\n")
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    sys.exit(main())
