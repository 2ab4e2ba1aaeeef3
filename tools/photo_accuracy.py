#!/usr/bin/python3
"""predict's accuracy on a photo set, category by category, beside the careful
reference pipeline's (tools/careful_predict.py) on the same model.

  /usr/bin/python3 tools/make_photo_set.py /tmp/photos
  /usr/bin/python3 tools/photo_accuracy.py /tmp/photos MODEL... [--mnist build/mnist] [--prototype]

Prints a Markdown table: for each model, ours and careful's accuracy per
category. An image that predict refuses (no contrast, say) counts as wrong.
--prototype adds the NumPy model of our preprocessing (tools/photo_prototype.py).
"""
import argparse
import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import careful_predict  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def ours(mnist, model, folder, rows, chunk=200):
    """Digits from `mnist predict --json`; -1 for an image it refuses."""
    files = [str(pathlib.Path(folder) / r["file"]) for r in rows]
    digits = {}
    for start in range(0, len(files), chunk):
        part = files[start:start + chunk]
        done = subprocess.run([mnist, "predict", model, *part, "--json"], capture_output=True, text=True)
        try:
            digits.update({r["file"]: r.get("digit", -1) for r in json.loads(done.stdout)})
        except json.JSONDecodeError:  # a binary that stops at the first refused image: ask for each alone
            for f in part:
                one = subprocess.run([mnist, "predict", model, f, "--json"], capture_output=True, text=True)
                digits[f] = json.loads(one.stdout)[0]["digit"] if one.returncode == 0 else -1
    return [digits[f] for f in files]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos")
    parser.add_argument("models", nargs="+")
    parser.add_argument("--mnist", default=str(ROOT / "build" / "mnist"))
    parser.add_argument("--prototype", action="store_true")
    args = parser.parse_args()
    rows = careful_predict.read_labels(args.photos)
    pipelines = {"careful": careful_predict.prepare_all(args.photos, rows)}
    if args.prototype:
        import photo_prototype
        pipelines["prototype"] = careful_predict.prepare_all(args.photos, rows, photo_prototype.preprocess)
    columns, tables = [], []
    for model in args.models:
        name = pathlib.Path(model).stem
        columns.append(f"{name}: ours")
        tables.append(careful_predict.per_category(rows, ours(args.mnist, model, args.photos, rows)))
        for pipeline, inputs in pipelines.items():
            columns.append(f"{name}: {pipeline}")
            tables.append(careful_predict.per_category(rows, careful_predict.predict(model, inputs)))
    print("| category | n | " + " | ".join(columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for category, (_, n) in tables[0].items():
        cells = [f"{100 * t[category][0] / n:.1f}" for t in tables]
        print(f"| {category} | {n} | " + " | ".join(cells) + " |")
    cells = [f"**{100 * sum(h for h, _ in t.values()) / len(rows):.1f}**" for t in tables]
    print(f"| all | {len(rows)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
