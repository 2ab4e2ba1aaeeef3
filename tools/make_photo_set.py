#!/usr/bin/python3
"""Writes a photo-like test set of single digits for `mnist predict`.

Every image is made from sources outside the project's training data: real
handwriting from scikit-learn's UCI digits (8x8, upscaled), digits rendered
from a dozen Debian fonts, and, for one category, MNIST's own test images
already in MNIST form. Each category stresses one thing a phone photo or a
drawing program does to a digit; a person reads all of them easily.

  /usr/bin/python3 tools/make_photo_set.py OUT_DIR [--per-category 100] [--seed 15]

Writes OUT_DIR/<category>/<n>_<label>.{png,jpg} and OUT_DIR/labels.csv
(file, label, category; file relative to OUT_DIR). Deterministic: the same
seed gives the same files. Needs Debian's python3-numpy, python3-opencv,
python3-pil and python3-sklearn, and the fonts below (fonts-dejavu,
fonts-liberation, fonts-freefont-ttf, fonts-urw-base35, fonts-lato,
fonts-open-sans, fonts-crosextra-carlito); missing fonts are skipped.
"""
import argparse
import csv
import io
import pathlib
import struct
import zlib

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps
from sklearn.datasets import load_digits

ROOT = pathlib.Path(__file__).resolve().parent.parent
FONT_FILES = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf",
    "/usr/share/fonts/opentype/urw-base35/NimbusSans-Italic.otf",
    "/usr/share/fonts/opentype/urw-base35/URWGothic-Book.otf",
    "/usr/share/fonts/opentype/urw-base35/P052-Roman.otf",
    "/usr/share/fonts/opentype/urw-base35/C059-Bold.otf",
    "/usr/share/fonts/truetype/lato/Lato-Regular.ttf",
    "/usr/share/fonts/truetype/open-sans/OpenSans-Regular.ttf",
    "/usr/share/fonts/truetype/crosextra/Carlito-Regular.ttf",
]

PAPERS = [(250, 236, 120), (250, 205, 215), (205, 228, 250), (214, 242, 204), (206, 178, 130), (240, 240, 232)]
PENS = [(25, 55, 160), (175, 25, 30), (20, 115, 50), (90, 30, 120), (20, 20, 25)]
BOARDS = [(35, 60, 45), (40, 40, 44), (20, 30, 60), (60, 50, 40)]
CHALKS = [(235, 235, 225), (245, 240, 170), (210, 230, 250)]


# --- Digit shapes: a coverage mask in 0..1, ink = 1, tightly cropped. ---

def font_digit(rng, digit, fonts, height):
    """A digit from a random font, `height` pixels tall, slightly rotated, of random weight."""
    font = ImageFont.truetype(fonts[rng.integers(len(fonts))], int(height * 1.4))
    size = int(height * 2.5)
    img = Image.new("L", (size, size), 0)
    stroke = int(rng.integers(0, max(1, height // 25) + 1))
    ImageDraw.Draw(img).text((size // 4, size // 8), str(digit), fill=255, font=font, stroke_width=stroke,
                             stroke_fill=255)
    img = img.rotate(float(rng.uniform(-7, 7)), resample=Image.BICUBIC)
    mask = np.asarray(img, np.float32) / 255
    return tight(mask, height)


def uci_digit(uci, index, height):
    """A UCI handwritten digit (8x8 ink counts) upscaled to a smooth stroke `height` pixels tall."""
    # A blank pixel around the 8x8 frame, which the digits often touch: else the strokes end in straight cuts.
    small = np.pad(uci.images[index].astype(np.float32) / 16, 1)
    big = cv2.resize(small, (80, 80), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), 2.0)
    mask = np.clip((big - 0.3) / 0.25, 0, 1)  # soft edges around the strokes
    return tight(mask, height)


def tight(mask, height):
    """Crops to the ink and scales so that the digit is `height` pixels tall."""
    ys, xs = np.nonzero(mask > 0.05)
    mask = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = height / mask.shape[0]
    w = max(1, int(round(mask.shape[1] * scale)))
    return np.clip(cv2.resize(mask, (w, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC), 0, 1)


# --- Photos: paper, ink, light and camera. Float RGB in 0..255. ---

def place(mask, canvas_h, canvas_w, rng, centred=True):
    """The mask on a canvas_h x canvas_w field; near the centre, or anywhere when not centred."""
    field = np.zeros((canvas_h, canvas_w), np.float32)
    h, w = mask.shape
    if centred:
        y = (canvas_h - h) // 2 + int(rng.integers(-(canvas_h - h) // 5, (canvas_h - h) // 5 + 1))
        x = (canvas_w - w) // 2 + int(rng.integers(-(canvas_w - w) // 5, (canvas_w - w) // 5 + 1))
    else:
        y = int(rng.integers(0, canvas_h - h + 1))
        x = int(rng.integers(0, canvas_w - w + 1))
    field[y:y + h, x:x + w] = mask
    return field


def paint(field, paper, ink):
    paper = np.asarray(paper, np.float32)
    ink = np.asarray(ink, np.float32)
    return paper * (1 - field[..., None]) + ink * field[..., None]


def paper_texture(rng, h, w, amount):
    """Low-frequency blotches, as in paper fibre and uneven print."""
    small = rng.normal(0, 1, (max(2, h // 24), max(2, w // 24))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[..., None] * amount


def gradient_light(rng, h, w, darkest):
    """Light falling off linearly in a random direction, down to `darkest`, with a vignette."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5)) / 0.71 + 0.5
    light = 1 - (1 - darkest) * np.clip(t, 0, 1)
    r2 = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 2
    return (light * (1 - 0.25 * r2))[..., None]


def shadow_light(rng, h, w, depth):
    """A hard-edged shadow (a hand, a phone) across a part of the page, `depth` of the light left."""
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = np.cos(angle) * (xx - w / 2) + np.sin(angle) * (yy - h / 2) - rng.uniform(-0.25, 0.25) * min(h, w)
    soft = rng.uniform(1, 4)
    inside = np.clip(0.5 + d / (2 * soft), 0, 1)
    return (1 - (1 - depth) * inside)[..., None]


def ruled_lines(rng, h, w, digit_h):
    """Blue ruled lines across the page and sometimes a red margin: a field of 0..1 coverage per colour."""
    lines = np.zeros((h, w), np.float32)
    spacing = max(6, int(digit_h * rng.uniform(0.3, 0.55)))
    width = int(rng.integers(1, 3 + digit_h // 80))
    for y in range(int(rng.integers(0, spacing)), h, spacing):
        lines[y:y + width] = 1
    margin = np.zeros((h, w), np.float32)
    if rng.random() < 0.4:
        x = int(rng.uniform(0.05, 0.2) * w)
        margin[:, x:x + width] = 1
    return lines, margin


def to_u8(rgb):
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def encode(rgb_u8, fmt, quality=90):
    buf = io.BytesIO()
    mode = "L" if rgb_u8.ndim == 2 else {3: "RGB", 4: "RGBA"}[rgb_u8.shape[2]]
    img = Image.fromarray(rgb_u8, mode)
    if fmt == "jpg":
        img.save(buf, "JPEG", quality=int(quality))
    else:
        img.save(buf, "PNG")
    return buf.getvalue()


# --- EXIF: an APP1 segment with an orientation tag, written by hand. ---

def exif_app1(orientation, big_endian, with_other_tags):
    """An APP1 'Exif' segment whose IFD0 holds Orientation (0x0112), after other tags if asked."""
    e = ">" if big_endian else "<"
    entries = []
    strings = b""
    base = 8 + 2 + 12 * (3 if with_other_tags else 1) + 4  # TIFF header + IFD0
    if with_other_tags:
        make, model = b"PhoneMaker\0", b"Model X\0"
        entries.append(struct.pack(e + "HHII", 0x010F, 2, len(make), base))
        entries.append(struct.pack(e + "HHII", 0x0110, 2, len(model), base + len(make)))
        strings = make + model
    value = struct.pack(e + "H", orientation) + b"\0\0"  # SHORT, left-justified in the 4 bytes
    entries.append(struct.pack(e + "HHI", 0x0112, 3, 1) + value)
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", len(entries)) + b"".join(entries) + struct.pack(e + "I", 0) + strings
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_exif(jpeg, app1, keep_jfif):
    """Inserts the APP1 segment after SOI (and after the JFIF APP0 when kept)."""
    assert jpeg[:2] == b"\xff\xd8"
    rest = jpeg[2:]
    if rest[:2] == b"\xff\xe0":
        app0_len = struct.unpack(">H", rest[2:4])[0]
        app0, rest = rest[:2 + app0_len], rest[2 + app0_len:]
        return b"\xff\xd8" + (app0 + app1 if keep_jfif else app1) + rest
    return b"\xff\xd8" + app1 + rest


# Stored pixels for each tag: what a viewer rotates back upright.
STORE_ROTATION = {3: cv2.ROTATE_180, 6: cv2.ROTATE_90_COUNTERCLOCKWISE, 8: cv2.ROTATE_90_CLOCKWISE}


# --- The categories. Each returns (bytes, extension). ---

class Maker:
    def __init__(self, seed):
        self.fonts = [f for f in FONT_FILES if pathlib.Path(f).exists()]
        if len(self.fonts) < 6:
            raise SystemExit("install fonts: apt-get install fonts-dejavu fonts-liberation fonts-freefont-ttf "
                             "fonts-urw-base35 fonts-lato fonts-open-sans fonts-crosextra-carlito")
        self.uci = load_digits()
        self.uci_by_label = [np.nonzero(self.uci.target == d)[0] for d in range(10)]
        self.mnist_images, self.mnist_labels = read_mnist_test(ROOT / "data" / "mnist")
        self.seed = seed

    def shape(self, rng, digit, height, source):
        if source == "uci":
            idx = self.uci_by_label[digit]
            return uci_digit(self.uci, idx[rng.integers(len(idx))], height)
        return font_digit(rng, digit, self.fonts, height)

    def base(self, rng, digit, source, canvas=(120, 360), fill=(0.5, 0.75)):
        """A plain photo: off-white paper with a little texture, dark ink, a little sensor noise."""
        h = int(rng.integers(*canvas))
        w = int(h * rng.uniform(0.75, 1.33))
        mask = self.shape(rng, digit, int(min(h, w) * rng.uniform(*fill)), source)
        mask = mask[:, :w - 2] if mask.shape[1] > w - 2 else mask
        field = place(mask, h, w, rng)
        grey = rng.uniform(215, 250)
        paper = np.array([grey, grey, grey * rng.uniform(0.93, 1.0)])
        ink = np.full(3, rng.uniform(10, 60))
        return field, paper, ink, mask.shape[0]

    def render(self, rng, field, paper, ink, noise=2.0, light=None, texture=4.0):
        rgb = paint(field, paper, ink)
        h, w = field.shape
        rgb = rgb + paper_texture(rng, h, w, texture) * (1 - field[..., None])
        if light is not None:
            rgb = rgb * light
        return rgb + rng.normal(0, noise, (h, w, 1)).astype(np.float32)

    def source(self, i):
        return "uci" if i % 3 == 2 else "font"

    def make(self, category, i, digit):
        rng = np.random.default_rng([self.seed, zlib_crc(category), i])
        return getattr(self, "cat_" + category)(rng, i, digit)

    def photo_out(self, rgb, rng):
        """Most phone pictures are JPEG; screenshots and scans are often PNG."""
        if rng.random() < 0.5:
            return encode(to_u8(rgb), "jpg", rng.integers(85, 96)), "jpg"
        return encode(to_u8(rgb), "png"), "png"

    def cat_clean_font(self, rng, i, digit):
        field, paper, ink, _ = self.base(rng, digit, "font")
        return self.photo_out(self.render(rng, field, paper, ink), rng)

    def cat_uci_handwriting(self, rng, i, digit):
        field, paper, ink, _ = self.base(rng, digit, "uci")
        return self.photo_out(self.render(rng, field, paper, ink), rng)

    def noisy(self, rng, i, digit, sigma):
        field, paper, ink, _ = self.base(rng, digit, self.source(i), canvas=(90, 240))
        return encode(to_u8(self.render(rng, field, paper, ink, noise=sigma)), "png"), "png"

    def cat_noise_10(self, rng, i, digit):
        return self.noisy(rng, i, digit, 10)

    def cat_noise_25(self, rng, i, digit):
        return self.noisy(rng, i, digit, 25)

    def cat_noise_40(self, rng, i, digit):
        return self.noisy(rng, i, digit, 40)

    def cat_specks(self, rng, i, digit):
        """Salt-and-pepper pixels and a few dust specks of 1-3 pixels."""
        field, paper, ink, _ = self.base(rng, digit, self.source(i), canvas=(100, 300))
        rgb = self.render(rng, field, paper, ink)
        h, w = field.shape
        flip = rng.random((h, w))
        amount = rng.uniform(0.003, 0.015)
        rgb[flip < amount / 2] = 0
        rgb[(flip >= amount / 2) & (flip < amount)] = 255
        for _ in range(int(rng.integers(5, 30))):
            y, x, s = int(rng.integers(0, h - 3)), int(rng.integers(0, w - 3)), int(rng.integers(1, 4))
            rgb[y:y + s, x:x + s] = rng.uniform(0, 60)
        return encode(to_u8(rgb), "png"), "png"

    def cat_blur(self, rng, i, digit):
        field, paper, ink, digit_h = self.base(rng, digit, self.source(i))
        rgb = self.render(rng, field, paper, ink)
        rgb = cv2.GaussianBlur(rgb, (0, 0), digit_h * rng.uniform(0.02, 0.045))
        return self.photo_out(rgb, rng)

    def cat_jpeg(self, rng, i, digit):
        field, paper, ink, _ = self.base(rng, digit, self.source(i), canvas=(60, 160))
        rgb = self.render(rng, field, paper, ink, noise=3)
        return encode(to_u8(rgb), "jpg", rng.integers(20, 41)), "jpg"

    def cat_ruled_paper(self, rng, i, digit):
        field, paper, ink, digit_h = self.base(rng, digit, self.source(i))
        h, w = field.shape
        lines, margin = ruled_lines(rng, h, w, digit_h)
        paper_rgb = paint(lines, paper, (150, 185, 230))
        paper_rgb = paper_rgb * (1 - margin[..., None]) + np.array([220, 90, 90], np.float32) * margin[..., None]
        pen = np.array(PENS[rng.integers(len(PENS))], np.float32)
        rgb = paper_rgb * (1 - field[..., None]) + pen * field[..., None]
        rgb += rng.normal(0, 2, (h, w, 1))
        return self.photo_out(rgb, rng)

    def cat_uneven_light(self, rng, i, digit):
        field, paper, ink, _ = self.base(rng, digit, self.source(i))
        h, w = field.shape
        light = gradient_light(rng, h, w, rng.uniform(0.3, 0.55))
        return self.photo_out(self.render(rng, field, paper, ink, light=light), rng)

    def cat_shadow(self, rng, i, digit):
        field, paper, ink, _ = self.base(rng, digit, self.source(i))
        h, w = field.shape
        light = shadow_light(rng, h, w, rng.uniform(0.4, 0.65))
        return self.photo_out(self.render(rng, field, paper, ink, light=light), rng)

    def cat_colour_ink(self, rng, i, digit):
        field, _, _, _ = self.base(rng, digit, self.source(i))
        paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32) * rng.uniform(0.92, 1.0)
        pen = np.array(PENS[rng.integers(len(PENS))], np.float32)
        rgb = self.render(rng, field, paper, pen)
        if rng.random() < 0.5:
            return encode(to_u8(rgb), "jpg", 90), "jpg"
        return encode(to_u8(rgb), "png"), "png"

    def cat_dark_background(self, rng, i, digit):
        """Chalk on a board: light, uneven ink on a dark textured background."""
        field, _, _, _ = self.base(rng, digit, self.source(i))
        h, w = field.shape
        chalk = field * np.clip(rng.normal(0.85, 0.2, field.shape), 0, 1).astype(np.float32)
        board = np.array(BOARDS[rng.integers(len(BOARDS))], np.float32)
        rgb = self.render(rng, chalk, board, np.array(CHALKS[rng.integers(len(CHALKS))], np.float32), noise=4,
                          texture=6)
        return encode(to_u8(rgb), "jpg", 90), "jpg"

    def cat_small_offcentre(self, rng, i, digit):
        """A big photo of a page with a small digit somewhere on it."""
        h = int(rng.integers(700, 1400))
        w = int(h * rng.uniform(1.2, 1.5))
        mask = self.shape(rng, digit, int(rng.integers(40, 110)), self.source(i))
        field = place(mask, h, w, rng, centred=False)
        paper = np.full(3, rng.uniform(200, 245))
        light = gradient_light(rng, h, w, rng.uniform(0.7, 0.9))
        rgb = self.render(rng, field, paper, np.full(3, rng.uniform(15, 60)), noise=3, light=light, texture=6)
        return encode(to_u8(rgb), "jpg", 88), "jpg"

    def cat_exif_sideways(self, rng, i, digit):
        """A phone photo stored sideways or upside down, with the EXIF tag that sets it upright."""
        field, paper, ink, _ = self.base(rng, digit, self.source(i), canvas=(240, 480))
        upright = to_u8(self.render(rng, field, paper, ink, noise=3))
        orientation = (3, 6, 8)[i % 3]
        stored = cv2.rotate(upright, STORE_ROTATION[orientation])
        jpeg = encode(stored, "jpg", 90)
        data = with_exif(jpeg, exif_app1(orientation, big_endian=(i // 3) % 2 == 1, with_other_tags=i % 4 < 2),
                         keep_jfif=i % 5 < 2)
        check_exif(data, upright)
        return data, "jpg"

    def cat_transparent_png(self, rng, i, digit):
        """Ink drawn on a transparent layer: the shape is in alpha; dark ink or light ink."""
        h = int(rng.integers(100, 300))
        mask = self.shape(rng, digit, int(h * rng.uniform(0.5, 0.75)), self.source(i))
        field = place(mask, h, h, rng)
        light_ink = i % 2 == 1
        colour = CHALKS[rng.integers(len(CHALKS))] if light_ink else PENS[rng.integers(len(PENS))]
        rgba = np.zeros((h, h, 4), np.uint8)
        rgba[..., :3] = colour
        if i % 4 >= 2:  # some programs leave the transparent pixels' colour at 0 (black) or at white
            rgba[field == 0, :3] = 0 if i % 8 >= 4 else 255
        rgba[..., 3] = np.rint(field * 255).astype(np.uint8)
        return encode(rgba, "png"), "png"

    def cat_mnist_form(self, rng, i, digit):
        """An image already in MNIST's form: 28x28, white on black, centred (MNIST's test set)."""
        idx = np.nonzero(self.mnist_labels == digit)[0]
        return encode(self.mnist_images[idx[rng.integers(len(idx))]], "png"), "png"

    def cat_low_contrast(self, rng, i, digit):
        """Faint pencil: ink only 20 to 45 grey levels darker than the paper."""
        field, _, _, _ = self.base(rng, digit, self.source(i))
        grey = rng.uniform(150, 225)
        paper = np.full(3, grey)
        ink = np.full(3, grey - rng.uniform(20, 45))
        return self.photo_out(self.render(rng, field, paper, ink, noise=2, texture=2), rng)

    def cat_phone_photo(self, rng, i, digit):
        """Several at once: uneven light, a shadow, coloured paper, blur, noise, JPEG."""
        field, _, _, digit_h = self.base(rng, digit, self.source(i), canvas=(200, 500))
        h, w = field.shape
        paper = np.array(PAPERS[rng.integers(len(PAPERS))], np.float32)
        pen = np.array(PENS[rng.integers(len(PENS))], np.float32)
        light = gradient_light(rng, h, w, rng.uniform(0.5, 0.8)) * shadow_light(rng, h, w, rng.uniform(0.6, 0.8))
        rgb = self.render(rng, field, paper, pen, noise=rng.uniform(4, 12), light=light)
        rgb = cv2.GaussianBlur(rgb, (0, 0), digit_h * rng.uniform(0.005, 0.02))
        return encode(to_u8(rgb), "jpg", rng.integers(50, 85)), "jpg"


CATEGORIES = ["clean_font", "uci_handwriting", "noise_10", "noise_25", "noise_40", "specks", "blur", "jpeg",
              "ruled_paper", "uneven_light", "shadow", "colour_ink", "dark_background", "small_offcentre",
              "exif_sideways", "transparent_png", "mnist_form", "low_contrast", "phone_photo"]


def zlib_crc(text):
    return zlib.crc32(text.encode())


def read_mnist_test(folder):
    def idx(path):
        data = path.read_bytes()
        dims = data[3]
        shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
    return idx(folder / "t10k-images-idx3-ubyte"), idx(folder / "t10k-labels-idx1-ubyte")


def check_exif(data, upright):
    """PIL, as an image viewer, must show the stored JPEG upright."""
    shown = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("L"), np.float32)
    upright = np.asarray(Image.fromarray(upright).convert("L"), np.float32)
    assert shown.shape == upright.shape, (shown.shape, upright.shape)
    assert np.abs(shown - upright).mean() < 4, "EXIF orientation does not restore the upright image"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--per-category", type=int, default=100)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--categories", default=",".join(CATEGORIES))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    maker = Maker(args.seed)
    rows = []
    for category in args.categories.split(","):
        (out / category).mkdir(parents=True, exist_ok=True)
        for i in range(args.per_category):
            digit = (i + zlib_crc(category)) % 10
            data, ext = maker.make(category, i, digit)
            name = f"{category}/{i:03d}_{digit}.{ext}"
            (out / name).write_bytes(data)
            rows.append((name, digit, category))
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label", "category"])
        writer.writerows(rows)
    print(f"{len(rows)} images in {len(set(r[2] for r in rows))} categories written to {out}")


if __name__ == "__main__":
    main()
