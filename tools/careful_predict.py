#!/usr/bin/python3
"""A careful reference pipeline for `mnist predict`, in OpenCV and PyTorch.

It prepares each photo as MNIST's digits were prepared, with the tools a
careful person would reach for in OpenCV, and predicts with one of our
checkpoints. It is the yardstick for predict's own preprocessing
(tools/photo_accuracy.py puts the two side by side):
  1. read with the EXIF orientation applied; a transparent image is
     composited over a backdrop that contrasts with its ink;
  2. an image already in MNIST form (28x28, white on black, centred) is
     used as it is;
  3. large images are shrunk (area averaging) to at most 1024 pixels a side;
     noise is measured and, when present, removed (non-local means);
  4. the ink's polarity: the side on which the image strays furthest from a
     wide median of a thumbnail;
  5. the background is a morphological closing wider than the strokes (it
     keeps the edges of shadows) and the image is divided by it, which
     flattens uneven light and shadows;
  6. Otsu's threshold among the pixels that stand out of the paper finds the
     ink; connected components far smaller than the largest, or far from it,
     are specks;
  7. the ink's levels are stretched to its 90th percentile, the crop taken
     around the kept components, fitted into 20x20 keeping the aspect ratio
     (area resampling), and placed in 28x28 with its centre of mass at the
     centre.

  /usr/bin/python3 tools/careful_predict.py MODEL PHOTO_DIR   (PHOTO_DIR/labels.csv from make_photo_set.py)
"""
import csv
import pathlib
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from pytorch_eval import CourseCNN, Linear, Mlp, load_safetensors  # noqa: E402

SIZE, BOX = 28, 20


def read_grey(path):
    """Grey 0..255 (float32), upright as a viewer shows it, transparency composited against the ink."""
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f"{path}: cannot read")
    if raw.ndim == 3 and raw.shape[2] == 4:
        grey = cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2GRAY).astype(np.float32)
        alpha = raw[..., 3].astype(np.float32) / 255
        if alpha.min() < 1:
            # The ink is what is opaque: put it on a backdrop it stands out from.
            ink = (grey * alpha).sum() / max(alpha.sum(), 1e-6)
            backdrop = 255.0 if ink < 128 else 0.0
            return grey * alpha + backdrop * (1 - alpha)
        return grey
    # IMREAD_GRAYSCALE applies the EXIF orientation (IMREAD_UNCHANGED does not).
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def is_mnist_form(img):
    """28x28, dark background, bright ink, an empty edge, centred by mass."""
    if img.shape != (SIZE, SIZE):
        return False
    ring = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    if np.median(img) > 16 or img.max() < 128 or ring.mean() > 16:
        return False
    m = cv2.moments(img)
    c = (SIZE - 1) / 2
    return abs(m["m01"] / m["m00"] - c) <= 1.5 and abs(m["m10"] / m["m00"] - c) <= 1.5


def noise_sigma(img):
    """Robust noise level: the median absolute deviation of horizontal neighbour differences."""
    d = np.diff(img, axis=1).ravel()
    return 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)


def is_dark_ink(u8):
    """Ink strays further below the local paper level (a large median) than anything strays above it."""
    f = min(1.0, 128 / max(u8.shape))
    thumb = cv2.resize(u8, (max(1, round(u8.shape[1] * f)), max(1, round(u8.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    paper = cv2.medianBlur(thumb, max(3, (min(thumb.shape) // 2) | 1))
    paper = cv2.resize(paper, (u8.shape[1], u8.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    dev = (u8.astype(np.float32) - paper).ravel()
    n = max(16, dev.size // 1000)
    return np.partition(-dev, -n)[-n:].sum() >= np.partition(dev, -n)[-n:].sum()


def preprocess(path):
    img = read_grey(path)
    if is_mnist_form(img):
        return img
    scale = 1024 / max(img.shape)
    if scale < 1:
        img = cv2.resize(img, (max(1, round(img.shape[1] * scale)), max(1, round(img.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    u8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    sigma = noise_sigma(img)
    if sigma > 4:
        u8 = cv2.fastNlMeansDenoising(u8, None, h=1.2 * sigma, templateWindowSize=7, searchWindowSize=21)
    if not is_dark_ink(u8):
        u8 = 255 - u8
    # Local background: a closing (max then min) wider than any stroke keeps the paper's light,
    # shadows' edges included, and removes the ink.
    k = max(3, (min(u8.shape) // 2) | 1)
    bg = cv2.morphologyEx(cv2.GaussianBlur(u8, (5, 5), 0), cv2.MORPH_CLOSE,
                          cv2.getStructuringElement(cv2.MORPH_RECT, (k, k))).astype(np.float32)
    norm = np.clip(1 - u8.astype(np.float32) / np.maximum(bg, 16), 0, 1)
    # Otsu among the pixels that stand out of the paper's spread, so that a small digit is not swamped.
    med = np.median(norm)
    floor = max(0.05, med + 6 * 1.4826 * np.median(np.abs(norm - med)))
    cand = norm[norm > floor]
    if cand.size < 4:
        raise ValueError(f"{path}: no contrast")
    c8 = np.clip(cand * 255, 0, 255).astype(np.uint8).reshape(1, -1)
    otsu, _ = cv2.threshold(c8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    thr = max(floor, otsu / 255)
    mask = (norm >= thr).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas))
    mx, my, mw, mh = stats[main, :4]
    keep = []
    for c in range(1, count):
        x, y, w, h, area = stats[c]
        gap = max(mx - (x + w), x - (mx + mw), my - (y + h), y - (my + mh), 0)
        if area >= 0.05 * areas.max() and gap <= 0.3 * max(mw, mh):
            keep.append(c)
    kept = np.isin(labels, keep)
    ys, xs = np.nonzero(kept)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    grow = max(1, max(mw, mh) // 40)
    near = cv2.dilate(kept.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    # Levels: ink at the 90th percentile of the kept strokes is full white; faint halo fades out.
    hi = np.percentile(norm[kept], 90)
    lo = 0.5 * thr
    levels = np.clip((norm - lo) / max(hi - lo, 1e-3), 0, 1) * near
    crop = levels[y0:y1, x0:x1].astype(np.float32)
    f = BOX / max(crop.shape)
    w, h = max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))
    fitted = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    fitted = np.clip(fitted, 0, 1) * 255
    m = cv2.moments(fitted)
    oy = int(round((SIZE - 1) / 2 - m["m01"] / m["m00"]))
    ox = int(round((SIZE - 1) / 2 - m["m10"] / m["m00"]))
    shift = np.float32([[1, 0, ox], [0, 1, oy]])
    return cv2.warpAffine(fitted, shift, (SIZE, SIZE), flags=cv2.INTER_NEAREST, borderValue=0)


def load_model(path):
    state, meta = load_safetensors(path)
    model = {"cnn": CourseCNN, "mlp": Mlp, "linear": Linear}[meta.get("model", "cnn")]()
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optim.")})
    model.eval()
    return model, float(meta.get("input_scale", 1 / 255)), float(meta.get("input_offset", 0))


def predict(model_path, inputs):
    """Digits for a list of 28x28 arrays (None for an image that could not be prepared: -1)."""
    model, scale, offset = load_model(model_path)
    batch = np.stack([x if x is not None else np.zeros((SIZE, SIZE), np.float32) for x in inputs])
    with torch.no_grad():
        logits = model(torch.from_numpy(batch * scale + offset).unsqueeze(1).float())
    digits = logits.argmax(1).numpy()
    return [int(d) if x is not None else -1 for d, x in zip(digits, inputs)]


def read_labels(folder):
    with open(pathlib.Path(folder) / "labels.csv") as f:
        return list(csv.DictReader(f))


def prepare_all(folder, rows, prepare=preprocess):
    inputs = []
    for row in rows:
        try:
            inputs.append(prepare(pathlib.Path(folder) / row["file"]))
        except ValueError:
            inputs.append(None)
    return inputs


def per_category(rows, digits):
    table = {}
    for row, digit in zip(rows, digits):
        hits = table.setdefault(row["category"], [0, 0])
        hits[0] += digit == int(row["label"])
        hits[1] += 1
    return table


def print_accuracy(rows, digits):
    table = per_category(rows, digits)
    for category, (hit, total) in table.items():
        print(f"{category:18s} {100 * hit / total:5.1f}%  ({hit}/{total})")
    hit = sum(h for h, _ in table.values())
    print(f"{'all':18s} {100 * hit / len(rows):5.1f}%  ({hit}/{len(rows)})")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = read_labels(sys.argv[2])
    print_accuracy(rows, predict(sys.argv[1], prepare_all(sys.argv[2], rows)))


if __name__ == "__main__":
    main()
