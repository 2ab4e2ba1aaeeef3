#!/usr/bin/python3
"""A NumPy model of predict's preprocessing (src/io/image.cpp), step for step.

Used to design the algorithm and to check the C++ against. Every step is
one the C++ does the same way with plain loops (no OpenCV): PIL only decodes
and resamples, scipy.ndimage only labels components, dilates and takes
medians. tools/photo_accuracy.py --prototype puts it beside the others.

  /usr/bin/python3 tools/photo_prototype.py MODEL PHOTO_DIR
"""
import io
import pathlib
import struct
import sys

import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import careful_predict  # noqa: E402

SIZE, BOX = 28, 20
WORK_SIDE = 1024  # larger images are shrunk to this many pixels a side first


# --- Decoding: EXIF orientation and transparency ---

def exif_orientation(data):
    """The EXIF Orientation (1..8) of a JPEG, 1 when absent; parsed by hand."""
    if data[:2] != b"\xff\xd8":
        return 1
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in (0xDA, 0xD9):
            break
        seg = data[pos + 4:pos + 2 + length]
        if marker == 0xE1 and seg[:6] == b"Exif\0\0":
            tiff = seg[6:]
            e = {b"II": "<", b"MM": ">"}.get(tiff[:2])
            if e is None or len(tiff) < 8:
                return 1
            ifd = struct.unpack(e + "I", tiff[4:8])[0]
            if ifd + 2 > len(tiff):
                return 1
            count = struct.unpack(e + "H", tiff[ifd:ifd + 2])[0]
            for k in range(count):
                at = ifd + 2 + 12 * k
                if at + 12 > len(tiff):
                    break
                tag, kind = struct.unpack(e + "HH", tiff[at:at + 4])
                if tag == 0x0112 and kind == 3:
                    value = struct.unpack(e + "H", tiff[at + 8:at + 10])[0]
                    return value if 1 <= value <= 8 else 1
            return 1
        pos += 2 + length
    return 1


def orient(img, orientation):
    """Applies an EXIF orientation: what a viewer does before showing the image."""
    return {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud,
            5: lambda a: np.rot90(np.fliplr(a), 1), 6: lambda a: np.rot90(a, -1),
            7: lambda a: np.rot90(np.fliplr(a), -1), 8: lambda a: np.rot90(a, 1)}[orientation](img)


def decode(path):
    data = pathlib.Path(path).read_bytes()
    im = Image.open(io.BytesIO(data))
    rgba = np.asarray(im.convert("RGBA"), np.float32)
    # stb's grey: (77 r + 150 g + 29 b) >> 8
    grey = (77 * rgba[..., 0] + 150 * rgba[..., 1] + 29 * rgba[..., 2]) / 256
    alpha = rgba[..., 3] / 255
    if alpha.min() < 1:
        # The ink is what is opaque: composite over the backdrop it stands out from.
        ink = (grey * alpha).sum() / max(alpha.sum(), 1e-6)
        backdrop = 255.0 if ink < 127.5 else 0.0
        grey = grey * alpha + backdrop * (1 - alpha)
    return np.ascontiguousarray(orient(grey, exif_orientation(data)))


# --- Filters, each one the C++ has ---

def area_shrink(img, factor):
    """Mean of factor x factor blocks (the last partial block averages what it has)."""
    h, w = img.shape
    oh, ow = -(-h // factor), -(-w // factor)
    pad = np.pad(img, ((0, oh * factor - h), (0, ow * factor - w)))
    cnt = np.pad(np.ones_like(img), ((0, oh * factor - h), (0, ow * factor - w)))
    s = pad.reshape(oh, factor, ow, factor).sum((1, 3))
    c = cnt.reshape(oh, factor, ow, factor).sum((1, 3))
    return s / c


def median3(img):
    p = np.pad(img, 1, mode="edge")
    h, w = img.shape
    return np.median(np.stack([p[y:y + h, x:x + w] for y in range(3) for x in range(3)]), 0)


def sliding(img, k, axis, op):
    """Max or min over a window of k (odd) along an axis, clipped at the edges.

    van Herk / Gil-Werman: running extremes within blocks of k, forwards and
    backwards; each window is one forward and one backward value.
    """
    r = k // 2
    a = np.moveaxis(img, axis, 0)
    n = a.shape[0]
    fill = -np.inf if op is np.maximum else np.inf
    length = -(-(n + 2 * r) // k) * k
    pad = np.full((length,) + a.shape[1:], fill)
    pad[r:r + n] = a
    blocks = pad.reshape((length // k, k) + a.shape[1:])
    fwd = op.accumulate(blocks, axis=1).reshape(pad.shape)
    bwd = op.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(pad.shape)
    out = op(bwd[:n], fwd[k - 1:k - 1 + n])
    return np.moveaxis(out, 0, axis)


def closing(img, k):
    """Max then min over k x k: removes dark things narrower than k, keeps edges."""
    mx = sliding(sliding(img, k, 0, np.maximum), k, 1, np.maximum)
    return sliding(sliding(mx, k, 0, np.minimum), k, 1, np.minimum)


def box_blur(img, r):
    if r <= 0:
        return img
    k = 2 * r + 1
    c = np.cumsum(np.pad(img, ((r + 1, r), (0, 0)), mode="edge"), 0)
    img = (c[k:] - c[:-k]) / k
    c = np.cumsum(np.pad(img, ((0, 0), (r + 1, r)), mode="edge"), 1)
    return (c[:, k:] - c[:, :-k]) / k


def median_filter(img, k):
    """Median over k x k (odd) of grey levels rounded to integers, the edge pixels repeated beyond it."""
    return ndimage.median_filter(np.clip(np.rint(img), 0, 255), size=k, mode="nearest")


def sample(values):
    """Every n-th value, so that at most about 2^14 are left (for medians and spreads)."""
    values = values.ravel()
    return values[::max(1, values.size >> 14)]


def noise_sigma(img):
    """Robust noise level from horizontal neighbour differences (MAD)."""
    d = sample(img[:, 1:] - img[:, :-1])
    return 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)


# --- The pipeline ---

is_mnist_form = careful_predict.is_mnist_form  # the same test in both pipelines


def dark_ink(img):
    """Whether the ink is darker than the paper, from two views that fail in different places.

    Near: on a 64-pixel thumbnail, how far the most extreme pixels stray below
    and above a wide local median (the paper); bold digits that fill that
    window fool it. Far: on a 256-pixel thumbnail, how far the darkest and the
    brightest pixel lie beyond the border's 20th and 80th percentiles (paper
    touches the border); a small digit under uneven light fools it.
    """
    h, w = img.shape
    thumb = area_shrink(img, max(1, -(-max(h, w) // 64)))
    dev = (thumb - median_filter(thumb, max(3, int(0.75 * min(thumb.shape)) | 1))).ravel()
    n = max(16, dev.size // 1000)
    below, above = np.sort(-dev)[-n:].mean(), np.sort(dev)[-n:].mean()
    thumb = area_shrink(img, max(1, -(-max(h, w) // 256)))
    border = np.concatenate([thumb[0], thumb[-1], thumb[1:-1, 0], thumb[1:-1, -1]])
    below += np.percentile(border, 20) - thumb.min()
    above += thumb.max() - np.percentile(border, 80)
    return below >= above


MIN_CONTRAST = 12  # grey levels between ink and paper, below which there is no digit to read


def ink_ratio(img, bg):
    """How much darker than the paper each pixel is, as a fraction of the paper's level.

    A ratio, not a difference: in a shadow the paper and the ink darken by the
    same factor, so the ink keeps its ratio.
    """
    return np.clip((bg - img) / np.maximum(bg, 16), 0, 1)


def threshold(r):
    """The ink/paper threshold on a ratio image, and the floor of what stands out of the paper.

    The floor is 4 robust standard deviations above the paper's median. Among
    the pixels above it, Otsu's threshold splits ink from what is only grey
    (a shadow's edge, a ruled line); capped at 60% of the ink's peak (99th
    percentile) so that faint ink all of one level is not split in two.
    """
    some = sample(r)
    med = np.median(some)
    floor = max(0.05, med + 4 * 1.4826 * np.median(np.abs(some - med)))
    cand = r[r > floor]
    if cand.size < 4:
        return None
    return max(floor, min(otsu(cand), 0.6 * np.percentile(cand, 99)))


def otsu(values):
    """Otsu's threshold of values in [0, 1], over 256 bins."""
    hist, _ = np.histogram(values, bins=256, range=(0, 1))
    p = hist / hist.sum()
    w0 = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    between = (mu[-1] * w0 - mu) ** 2 / np.maximum(w0 * (1 - w0), 1e-12)
    return (np.argmax(between) + 1) / 256


def select_digit(mask):
    """The largest component, and those near it that are neither specks nor longer than it (lines)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel())[1:]
    main = int(np.argmax(areas))
    objs = ndimage.find_objects(labels)
    my, mx = objs[main]
    size = max(my.stop - my.start, mx.stop - mx.start)
    keep = np.zeros(count + 1, bool)
    for c, (sy, sx) in enumerate(objs):
        gap = max(my.start - sy.stop, sy.start - my.stop, mx.start - sx.stop, sx.start - mx.stop, 0)
        side = max(sy.stop - sy.start, sx.stop - sx.start)
        keep[c + 1] = areas[c] >= 0.05 * areas[main] and gap <= 0.3 * size and side <= size
    return keep[labels], size


def stroke_width(mask):
    """Twice the area over the number of boundary pixels: a stroke's width."""
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    return 2 * mask.sum() / max(mask.sum() - inner.sum(), 1)


def find_digit(img, smooth, k, path):
    """Background by a k x k closing, ink ratio, threshold, digit components."""
    bg = closing(smooth, k)
    r = ink_ratio(img, bg)
    thr = threshold(r)
    if thr is None:
        raise ValueError(f"{path}: no contrast")
    kept, size = select_digit(r >= thr)
    if np.percentile((bg - img)[kept], 90) < MIN_CONTRAST:
        raise ValueError(f"{path}: no contrast")
    return r, thr, kept, size


def preprocess(path):
    img = decode(path)
    if is_mnist_form(img):
        return img
    img = area_shrink(img, max(1, -(-max(img.shape) // WORK_SIDE)))
    sigma = noise_sigma(img)
    if sigma > 4:
        img = median3(img)
        if sigma > 12:
            img = median3(img)
    if not dark_ink(img):
        img = 255 - img
    h, w = img.shape
    smooth = box_blur(img, 2)
    # First a closing wider than any stroke could be; then, knowing the digit,
    # one just wide enough for its strokes, which follows shadows more closely.
    k = max(3, (min(h, w) // 2) | 1)
    r, thr, kept, size = find_digit(img, smooth, k, path)
    k2 = max(5, int(max(3 * stroke_width(kept), 0.4 * size)) | 1)
    if k2 < k:
        r, thr, kept, size = find_digit(img, smooth, k2, path)
    ys, xs = np.nonzero(kept)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    near = ndimage.binary_dilation(kept, np.ones((3, 3)), iterations=max(1, size // 40))
    lo, hi = 0.5 * thr, np.percentile(r[kept], 90)
    levels = np.clip((r - lo) / max(hi - lo, 1e-3), 0, 1) * near
    crop = levels[y0:y1, x0:x1].astype(np.float32)
    fit = BOX / max(crop.shape)
    w, h = max(1, round(crop.shape[1] * fit)), max(1, round(crop.shape[0] * fit))
    fitted = np.asarray(Image.fromarray(crop, "F").resize((w, h), Image.BICUBIC if fit > 1 else Image.BOX))
    fitted = np.clip(fitted, 0, 1) * 255
    m = fitted.sum()
    yy, xx = np.mgrid[0:h, 0:w]
    oy = int(round((SIZE - 1) / 2 - (fitted * yy).sum() / m))
    ox = int(round((SIZE - 1) / 2 - (fitted * xx).sum() / m))
    out = np.zeros((SIZE, SIZE), np.float32)
    for y in range(h):
        for x in range(w):
            if 0 <= y + oy < SIZE and 0 <= x + ox < SIZE:
                out[y + oy, x + ox] = fitted[y, x]
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = careful_predict.read_labels(sys.argv[2])
    careful_predict.print_accuracy(rows, careful_predict.predict(
        sys.argv[1], careful_predict.prepare_all(sys.argv[2], rows, preprocess)))


if __name__ == "__main__":
    main()
