#!/usr/bin/env python3
"""Checks that the folders of src/ form a strict layering: a file may include
headers of its own folder and of folders on lower floors only, so the
folder-level include graph has no cycle. The floors, lowest first, are the
list below (docs/design.md explains them). Exits 1 naming each include that
breaks the order.

  tools/check_layers.py [SRC_DIR]
"""
import pathlib
import re
import sys

FLOORS = ["util", "io", "plot", "data", "kernels", "nn", "optim", "checkpoint", "deploy", "train", "experiments", "dist", "web", "cli"]


def main():
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    rank = {name: i for i, name in enumerate(FLOORS)}
    errors = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cpp", ".inc"):
            continue
        folder = path.relative_to(src).parts[0]
        if folder not in rank:
            errors.append(f"{path}: folder '{folder}' has no floor in tools/check_layers.py")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r'\s*#include "([a-z_]+)/', line)
            if not m or m.group(1) == folder:
                continue
            target = m.group(1)
            if target not in rank:
                errors.append(f"{path}:{number}: includes unknown folder '{target}'")
            elif rank[target] > rank[folder]:
                errors.append(f"{path}:{number}: {folder}/ includes {target}/, a higher floor")
    for e in errors:
        print(e)
    print(f"layering: {len(errors)} violation(s) across {len(FLOORS)} floors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
