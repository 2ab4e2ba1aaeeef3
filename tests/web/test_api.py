#!/usr/bin/python3
"""Tests of the web lab's JSON API (`mnist serve`, docs/web.md) over real HTTP.

    /usr/bin/python3 tests/web/test_api.py --binary build/mnist --data data/mnist [--keep] [unittest args]

Python 3 standard library only. The script trains a tiny linear model, makes a
tiny `mnist compare` folder, starts `BINARY serve` on a free port with a fresh
--runs folder, runs the checks, and stops the server at the end (also on a
failure). The server must never crash: the last check is that its process is
still alive. Extra arguments go to unittest (e.g. -k paths). The exit code is
non-zero on any failure. About a minute and a half on two cores.

The checks:
  predict  images in PNG, JPEG (a small baseline encoder below) and BMP, raw or
           as a multipart form; top_k and model parameters; undecodable,
           empty, truncated, huge and blank images; bodies over the limit
  runs     validation of POST /api/runs, a run streamed to its end, stop, 429
  events   event streams opened and dropped, in a row and in parallel
  paths    experiment files, traversal attempts, planted symlinks, unknown
           endpoints and methods
  fuzz     a few thousand malformed requests over raw sockets
Every error answer must be JSON {"error": "..."} with a 4xx status.
"""
import argparse
import concurrent.futures
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib

ARGS = None    # the parsed command line
SERVER = None  # the Server under test

MAX_UPLOAD = 10 * 1024 * 1024


# ---------------------------------------------------------------- images

def digit_pixels(segments, size=200, thickness=10):
    """Rows of 8-bit grey pixels: dark strokes (30) on white (250); segments are ((x0, y0), (x1, y1)) in 0..1."""
    scaled = [((a[0] * size, a[1] * size), (b[0] * size, b[1] * size)) for a, b in segments]

    def near(px, py):
        for (ax, ay), (bx, by) in scaled:
            dx, dy = bx - ax, by - ay
            t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
            if math.hypot(px - ax - t * dx, py - ay - t * dy) < thickness:
                return True
        return False

    return [[30 if near(x, y) else 250 for x in range(size)] for y in range(size)]


SEVEN = [((0.2, 0.2), (0.8, 0.2)), ((0.8, 0.2), (0.45, 0.85))]
ONE = [((0.5, 0.12), (0.5, 0.88))]


def png_bytes(rows, width=None, height=None, idat=None):
    """An 8-bit grey PNG of rows; width/height/idat override the header and data (for broken files)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h = len(rows) if height is None else height
    w = len(rows[0]) if width is None else width
    if idat is None:
        idat = zlib.compress(b"".join(b"\0" + bytes(r) for r in rows))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bmp_bytes(rows):
    """A 24-bit uncompressed BMP of grey rows (stored bottom-up, rows padded to 4 bytes)."""
    h, w = len(rows), len(rows[0])
    stride = (w * 3 + 3) & ~3
    data = b"".join(b"".join(bytes((v, v, v)) for v in row) + b"\0" * (stride - w * 3) for row in reversed(rows))
    header = b"BM" + struct.pack("<IHHI", 54 + len(data), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(data), 2835, 2835, 0, 0)
    return header + info + data


# A baseline JPEG encoder for one grey channel (ITU T.81, Annex K's tables).
_ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
           21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53,
           60, 61, 54, 47, 55, 62, 63]
_LUMA_Q = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22,
           29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103,
           121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
_DC_VALS = list(range(12))
_AC_BITS = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d]
_AC_VALS = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738"
    "393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5"
    "a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")
assert len(_AC_VALS) == sum(_AC_BITS) == 162


def _huffman_codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code, k = code + 1, k + 1
        code <<= 1
    return codes


def jpeg_bytes(rows, quality=90):
    """A baseline grey JPEG of rows (width and height multiples of 8)."""
    h, w = len(rows), len(rows[0])
    assert h % 8 == 0 and w % 8 == 0
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    q = [max(1, min(255, int((v * scale + 50) // 100))) for v in _LUMA_Q]
    cos = [[(math.sqrt(0.5) if u == 0 else 1.0) / 2 * math.cos((2 * x + 1) * u * math.pi / 16) for x in range(8)]
           for u in range(8)]
    dc_codes, ac_codes = _huffman_codes(_DC_BITS, _DC_VALS), _huffman_codes(_AC_BITS, _AC_VALS)
    out, acc, nbits = bytearray(), 0, 0

    def put(code, length):
        nonlocal acc, nbits
        acc, nbits = (acc << length) | code, nbits + length
        while nbits >= 8:
            byte = (acc >> (nbits - 8)) & 0xff
            out.append(byte)
            if byte == 0xff:
                out.append(0)
            nbits -= 8
        acc &= (1 << nbits) - 1

    def put_value(v):  # category and the value's bits, as T.81 F.1.2.1
        size = abs(v).bit_length()
        return size, (v if v >= 0 else v + (1 << size) - 1)

    previous_dc = 0
    for by in range(0, h, 8):
        for bx in range(0, w, 8):
            block = [[rows[by + y][bx + x] - 128 for x in range(8)] for y in range(8)]
            rows_dct = [[sum(cos[v][x] * block[y][x] for x in range(8)) for v in range(8)] for y in range(8)]
            coef = [round(sum(cos[u][y] * rows_dct[y][v] for y in range(8)) / q[u * 8 + v])
                    for u in range(8) for v in range(8)]
            zz = [coef[i] for i in _ZIGZAG]
            size, bits = put_value(zz[0] - previous_dc)
            previous_dc = zz[0]
            put(*dc_codes[size])
            if size:
                put(bits, size)
            run = 0
            for v in zz[1:]:
                if v == 0:
                    run += 1
                    continue
                while run > 15:
                    put(*ac_codes[0xf0])
                    run -= 16
                size, bits = put_value(v)
                put(*ac_codes[(run << 4) | size])
                put(bits, size)
                run = 0
            if run:
                put(*ac_codes[0x00])
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)

    def segment(marker, payload):
        return struct.pack(">BBH", 0xff, marker, len(payload) + 2) + payload

    dqt = segment(0xdb, b"\0" + bytes(q[i] for i in _ZIGZAG))
    sof = segment(0xc0, struct.pack(">BHHBBBB", 8, h, w, 1, 1, 0x11, 0))
    dht = segment(0xc4, b"\x00" + bytes(_DC_BITS) + bytes(_DC_VALS) + b"\x10" + bytes(_AC_BITS) + _AC_VALS)
    sos = segment(0xda, bytes([1, 1, 0x00, 0, 63, 0]))
    return b"\xff\xd8" + dqt + sof + dht + sos + bytes(out) + b"\xff\xd9"


# ---------------------------------------------------------------- the server

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """BINARY serve on a free port, over a fresh --runs folder with a tiny model and compare folder."""

    def __init__(self, binary, data):
        self.binary, self.data = os.path.abspath(binary), os.path.abspath(data)
        self.proc = None
        self.tmp = tempfile.mkdtemp(prefix="mnist-api-")
        self.runs = os.path.join(self.tmp, "runs")
        self.log_path = os.path.join(self.tmp, "server.log")

    def run(self, *command):
        command = [self.binary, *command, "--data", self.data]
        print("running:", " ".join(command), flush=True)
        with open(self.log_path, "a") as log:
            done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed with exit code {done.returncode}; see {self.log_path}")

    def start(self):
        os.makedirs(self.runs)
        self.model = os.path.join(self.tmp, "m.safetensors")
        self.run("train", "--model", "linear", "--epochs", "1", "--save", self.model)
        self.run("compare", "--optimizers", "sgd,adam", "--model", "linear", "--train-samples", "1000",
                 "--epochs", "1", "--out", os.path.join(self.runs, "quick"))
        self.port = free_port()
        command = [self.binary, "serve", "--port", str(self.port), "--runs", self.runs, "--model", self.model,
                   "--data", self.data]
        print("starting:", " ".join(command), flush=True)
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                if request("GET", "/api/info", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"/api/info did not answer within 30 s; see {self.log_path}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def proc_status(self, key):
        """A field of /proc/PID/status (e.g. Threads) as an int."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def open_fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        if not ARGS.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("kept", self.tmp)


# ---------------------------------------------------------------- HTTP helpers

def request(method, path, body=None, headers=None, timeout=30):
    """(status, headers as a lower-case dict, body bytes) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def get_json(path):
    status, _, body = request("GET", path)
    assert status == 200, f"GET {path}: status {status}: {body[:300]!r}"
    return json.loads(body)


def post_json(path, value):
    return request("POST", path, json.dumps(value).encode(), {"Content-Type": "application/json"})


def raw_exchange(data, timeout=0.3, read=True, shutdown=False, linger_reset=False):
    """Sends bytes on a fresh socket; returns what came back (b"" when nothing did) before timeout or close."""
    s = socket.create_connection(("127.0.0.1", SERVER.port), timeout=2)
    try:
        s.settimeout(timeout)
        if linger_reset:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        try:
            s.sendall(data)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = b""
        if read:
            # Until the server closes, or is quiet for `timeout`; but an answer
            # whose headers came without all of its body is waited for (up to
            # 5 s more): the server writes headers and body in two sends, and
            # on a busy machine the second can come later than `timeout`.
            deadline = time.monotonic() + 5
            while len(got) < 1 << 20:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    if answer_incomplete(got) and time.monotonic() < deadline:
                        continue
                    break
                except OSError:  # a reset
                    break
                if not chunk:
                    break
                got += chunk
        return got
    finally:
        s.close()


def answer_incomplete(raw):
    """Whether raw holds a response's headers but not yet the Content-Length bytes of its body."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            try:
                return len(rest) < int(v.strip())
            except ValueError:
                return False
    return False


def parse_response(raw):
    """(status, headers, body) of the first HTTP response in raw bytes, or None when there is none."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not raw.startswith(b"HTTP/1.") or not sep:
        return None
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    n = int(headers.get("content-length", "0"))
    return status, headers, rest[:n]


def error_problem(status, headers, body, expected=None):
    """None if this is a well-formed error answer ({"error": "..."} with a 4xx status), else what is wrong."""
    if expected is not None and status != expected:
        return f"status {status}, expected {expected}: {body[:300]!r}"
    if not 400 <= status < 500:
        return f"status {status} is not 4xx: {body[:300]!r}"
    if not headers.get("content-type", "").startswith("application/json"):
        return f"status {status}: Content-Type {headers.get('content-type')!r}, not JSON: {body[:300]!r}"
    try:
        value = json.loads(body)
    except ValueError:
        return f"status {status}: the body is not JSON: {body[:300]!r}"
    if not (isinstance(value, dict) and isinstance(value.get("error"), str) and value["error"].strip()):
        return f"status {status}: not {{\"error\": \"...\"}}: {body[:300]!r}"
    if "\n" in value["error"]:
        return f"status {status}: the error is not one line: {value['error']!r}"
    return None


class ApiTest(unittest.TestCase):
    def assertError(self, answer, status, *words, what=""):
        """answer = (status, headers, body): a JSON error of that status whose message has every word."""
        got_status, headers, body = answer
        problem = error_problem(got_status, headers, body, status)
        self.assertIsNone(problem, f"{what}: {problem}")
        message = json.loads(body)["error"]
        for word in words:
            self.assertIn(word.lower(), message.lower(), f"{what}: the error {message!r} does not mention {word!r}")
        return message


def running_runs():
    return [r for r in get_json("/api/runs") if r["state"] == "running"]


def stop_all_runs():
    for r in running_runs():
        request("POST", f"/api/runs/{r['id']}/stop", b"")
    deadline = time.time() + 30
    while running_runs() and time.time() < deadline:
        time.sleep(0.2)


def read_events(run_id, timeout=120):
    """Every (event, data) of a run's stream until the server ends it."""
    conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=timeout)
    try:
        conn.request("GET", f"/api/runs/{run_id}/events")
        r = conn.getresponse()
        assert r.status == 200, f"events of {run_id}: status {r.status}"
        assert r.getheader("Content-Type", "").startswith("text/event-stream"), r.getheader("Content-Type")
        events, kind, data = [], None, []
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = r.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line == "":
                if kind is not None or data:
                    events.append((kind or "message", json.loads("\n".join(data))))
                kind, data = None, []
            elif line.startswith(":"):
                continue
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        return events
    finally:
        conn.close()


# ---------------------------------------------------------------- predict

class PredictTest(ApiTest):
    @classmethod
    def setUpClass(cls):
        cls.seven = digit_pixels(SEVEN)
        cls.png = png_bytes(cls.seven)
        cls.small = digit_pixels(ONE, size=64, thickness=4)

    def predict(self, body, query="", headers=None):
        return request("POST", "/api/predict" + query, body, headers)

    def check_answer(self, answer, top_k=3, what=""):
        status, headers, body = answer
        self.assertEqual(status, 200, f"{what}: {body[:300]!r}")
        self.assertTrue(headers.get("content-type", "").startswith("application/json"), what)
        p = json.loads(body)
        self.assertEqual(p["file"], "upload", what)
        self.assertIn(p["digit"], range(10), what)
        probabilities = p["probabilities"]
        self.assertEqual(len(probabilities), 10, what)
        self.assertTrue(all(0 <= v <= 1 for v in probabilities), f"{what}: {probabilities}")
        self.assertAlmostEqual(sum(probabilities), 1.0, delta=1e-3, msg=f"{what}: probabilities sum to {sum(probabilities)}")
        self.assertEqual(p["digit"], max(range(10), key=lambda d: probabilities[d]), f"{what}: digit is not the argmax")
        self.assertEqual(len(p["top_k"]), top_k, what)
        ps = [t["probability"] for t in p["top_k"]]
        self.assertEqual(ps, sorted(ps, reverse=True), f"{what}: top_k is not sorted: {p['top_k']}")
        for t in p["top_k"]:
            self.assertAlmostEqual(t["probability"], probabilities[t["digit"]], delta=1e-6, msg=what)
        if top_k:
            self.assertEqual(p["top_k"][0]["digit"], p["digit"], what)
        self.assertEqual(len(p["input"]), 784, what)
        self.assertTrue(all(isinstance(v, int) and 0 <= v <= 255 for v in p["input"]), f"{what}: input not 0..255 ints")
        self.assertGreater(sum(v > 128 for v in p["input"]), 20, f"{what}: the input has almost no ink")
        return p

    def test_png(self):
        p = self.check_answer(self.predict(self.png), what="PNG of a 7")
        self.assertEqual(p["model"], "m.safetensors")

    def test_jpeg(self):
        self.check_answer(self.predict(jpeg_bytes(self.small)), what="baseline grey JPEG")

    def test_bmp(self):
        self.check_answer(self.predict(bmp_bytes(self.small)), what="24-bit BMP")

    def test_formats_agree(self):
        # The same pixels as PNG and BMP are the same input; JPEG is close.
        a = json.loads(self.predict(png_bytes(self.small))[2])["input"]
        b = json.loads(self.predict(bmp_bytes(self.small))[2])["input"]
        c = json.loads(self.predict(jpeg_bytes(self.small))[2])["input"]
        self.assertEqual(a, b, "PNG and BMP of the same pixels gave different inputs")
        self.assertLess(sum(abs(x - y) for x, y in zip(a, c)) / 784, 10, "the JPEG's input is far from the PNG's")

    def test_top_k(self):
        for k in (0, 1, 10):
            self.check_answer(self.predict(self.png, f"?top_k={k}"), top_k=k, what=f"top_k={k}")
        for bad in ("11", "-1", "abc", "3.5", "", "99999999999999999999"):
            self.assertError(self.predict(self.png, f"?top_k={bad}"), 400, "top_k", what=f"top_k={bad}")

    def test_model_parameter(self):
        self.check_answer(self.predict(self.png, "?model=m.safetensors"), what="model=m.safetensors")
        self.assertError(self.predict(self.png, "?model=nonexistent"), 404, "nonexistent", what="model=nonexistent")
        for bad in ("..%2Fm.safetensors", "%2Fetc%2Fpasswd", "quick", "run-999"):
            self.assertError(self.predict(self.png, f"?model={bad}"), 404, what=f"model={bad}")

    def test_undecodable(self):
        rng = random.Random(1)
        cases = {
            "random bytes": (bytes(rng.randrange(256) for _ in range(5000)), "image"),
            "an empty body": (b"", "empty"),
            "a truncated PNG": (self.png[:len(self.png) // 2], "image"),
            "a PNG header only": (self.png[:33], "image"),
            "a blank white image": (png_bytes([[250] * 100 for _ in range(100)]), "digit"),
            "a blank black image": (png_bytes([[0] * 100 for _ in range(100)]), "digit"),
            "a 1x1 image": (png_bytes([[0]]), "image"),
        }
        for what, (body, word) in cases.items():
            self.assertError(self.predict(body), 400, word, what=what)

    def test_error_text_from_the_file(self):
        # A critical chunk stb_image does not know: its error names the chunk's four bytes, here not UTF-8.
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        png = png_bytes(digit_pixels(ONE, 64, 4))
        body = png[:33] + chunk(b"\x80\x81\x82\x83", b"x") + png[33:]
        self.assertError(self.predict(body), 400, "image", what="a PNG with a critical chunk named b'\\x80\\x81\\x82\\x83'")

    def test_absurd_dimensions(self):
        for w, h in ((100000, 100000), (0x7fffffff, 0x7fffffff), (0, 0), (1, 10 ** 9)):
            body = png_bytes(None, width=w, height=h, idat=zlib.compress(b"\0" * 1000))
            # Refused, and the reason should be about the image, not a crash or an out-of-memory.
            self.assertError(self.predict(body), 400, "image", what=f"a PNG header claiming {w}x{h}")
            self.assertTrue(SERVER.alive(), f"the server died on a PNG claiming {w}x{h}")

    def test_over_limit_with_length(self):
        body = b"\0" * (MAX_UPLOAD + 1)
        self.assertError(self.predict(body), 413, "limit", what="a body of 10 MiB + 1 with Content-Length")
        big = b"\0" * (MAX_UPLOAD + 200 * 1024)
        self.assertError(self.predict(big), 413, "limit", what="a body of 10.2 MiB with Content-Length")

    def test_over_limit_chunked(self):
        def chunks():
            block = b"\0" * 65536
            for _ in range(MAX_UPLOAD // len(block) + 4):
                yield block
        conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=30)
        try:
            try:
                conn.request("POST", "/api/predict", body=chunks(), encode_chunked=True,
                             headers={"Transfer-Encoding": "chunked"})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before the whole body is sent
            r = conn.getresponse()
            answer = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()
        self.assertError(answer, 413, "limit", what="a chunked body over 10 MiB")

    def test_chunked_small(self):
        conn = http.client.HTTPConnection("127.0.0.1", SERVER.port, timeout=30)
        try:
            png = self.png
            conn.request("POST", "/api/predict", body=iter([png[:100], png[100:]]), encode_chunked=True,
                         headers={"Transfer-Encoding": "chunked"})
            r = conn.getresponse()
            answer = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()
        self.check_answer(answer, what="a PNG sent chunked")

    def test_multipart(self):
        boundary = "----mnist-test-boundary-7MA4YWxk"
        def form(*parts):
            out = b""
            for name, filename, ctype, data in parts:
                disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
                out += (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
                        + (f"Content-Type: {ctype}\r\n" if ctype else "") + "\r\n").encode() + data + b"\r\n"
            return out + f"--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        raw = json.loads(self.predict(self.png)[2])
        answer = self.predict(form(("image", "seven.png", "image/png", self.png)), headers=headers)
        p = self.check_answer(answer, what="a multipart form with the PNG")
        self.assertEqual(p["input"], raw["input"], "the multipart upload gave another input than the raw body")
        # The page's form might put a text field first: the first *file* is the image (server.cpp says so).
        answer = self.predict(form(("note", None, None, b"hello"), ("image", "seven.png", "image/png", self.png)),
                              headers=headers)
        self.check_answer(answer, what="a multipart form with a text field before the file")

    def test_content_types_ignored(self):
        for ctype in ("application/x-www-form-urlencoded", "image/png", "application/octet-stream", "text/plain",
                      "application/json"):
            self.check_answer(self.predict(self.png, headers={"Content-Type": ctype}), what=f"Content-Type {ctype}")

    def test_get_is_not_predict(self):
        self.assertError(request("GET", "/api/predict"), 404, what="GET /api/predict")


# ---------------------------------------------------------------- runs

class RunsTest(ApiTest):
    def setUp(self):
        stop_all_runs()

    def test_validation(self):
        cases = [
            (b"{bad", "JSON"),
            (b"[]", "object"),
            (b"null", "object"),
            (b'"adam"', "object"),
            (json.dumps({"optimiser": "adam"}).encode(), "optimiser"),
            (json.dumps({"lr": "0.1"}).encode(), "lr"),
            (json.dumps({"epochs": "2"}).encode(), "epochs"),
            (json.dumps({"train_samples": [1]}).encode(), "train_samples"),
            (json.dumps({"model": 3}).encode(), "model"),
            (json.dumps({"optimizer": "frobnicate"}).encode(), "frobnicate"),
            (json.dumps({"lr": -1}).encode(), "lr"),
            (json.dumps({"epochs": 0}).encode(), "epochs"),
            (json.dumps({"epochs": -3}).encode(), "epochs"),
            (json.dumps({"batch_size": 0}).encode(), "batch"),
            (json.dumps({"train_samples": 0}).encode(), "train_samples"),
            (json.dumps({"model": "resnet"}).encode(), "resnet"),
            (json.dumps({"schedule": "zigzag"}).encode(), "zigzag"),
            (json.dumps({"optimizer": "sgd", "hypers": {"betas": [0.9, 0.99]}}).encode(), "betas"),
            (json.dumps({"optimizer": "adam", "hypers": {"momentum": 0.9}}).encode(), "momentum"),
            (json.dumps({"optimizer": "adam", "hypers": {"betas": "x"}}).encode(), "betas"),
            (json.dumps({"schedule": "constant", "schedule_hypers": {"gamma": 0.5}}).encode(), "gamma"),
        ]
        for body, word in cases:
            what = f"POST /api/runs {body.decode()}"
            self.assertError(request("POST", "/api/runs", body, {"Content-Type": "application/json"}), 400, word,
                             what=what)
        self.assertEqual(running_runs(), [], "a refused request started a run")

    def test_values_that_do_not_fit(self):
        # Values JSON allows but the fields' types do not: refused, not truncated or wrapped.
        cases = [({"epochs": 2.5}, "epochs"), ({"epochs": True}, "epochs"), ({"seed": -1}, "seed"),
                 ({"train_samples": 1e12}, "train_samples"), ({"epochs": 3e9}, "epochs")]
        for value, word in cases:
            body = {"model": "linear", "train_samples": 100, **value}
            status, headers, answer = post_json("/api/runs", body)
            if status == 201:
                request("POST", f"/api/runs/{json.loads(answer)['id']}/stop", b"")
            self.assertError((status, headers, answer), 400, word, what=f"POST /api/runs {json.dumps(body)}")

    def test_run_to_the_end(self):
        body = {"optimizer": "adam", "lr": 0.001, "model": "linear", "epochs": 2, "train_samples": 2000,
                "batch_size": 100, "hypers": {"betas": [0.9, 0.99]}}
        status, _, answer = post_json("/api/runs", body)
        self.assertEqual(status, 201, answer)
        run = json.loads(answer)
        for key in ("id", "state", "optimizer", "lr", "schedule", "epochs", "train_samples", "step", "total_steps",
                    "epoch", "loss", "accuracy", "model", "error"):
            self.assertIn(key, run, f"the new run's entry has no {key}: {run}")
        self.assertEqual((run["optimizer"], run["lr"], run["epochs"], run["train_samples"], run["total_steps"]),
                         ("adam", 0.001, 2, 2000, 40), run)
        events = read_events(run["id"])
        kinds = [k for k, _ in events]
        self.assertTrue(kinds, "no events")
        self.assertEqual(kinds[-1], "finished", f"the stream did not end with finished: {kinds[-5:]}")
        self.assertEqual(kinds.count("finished"), 1)
        self.assertEqual(kinds.count("epoch"), 2, kinds)
        steps = [d for k, d in events if k == "step"]
        self.assertTrue(steps, "no step events")
        for d in steps:
            self.assertTrue({"step", "epoch", "batch", "loss", "lr", "seconds"} <= set(d), d)
        self.assertEqual([d["step"] for d in steps], sorted(d["step"] for d in steps), "steps out of order")
        finished = events[-1][1]
        self.assertEqual(finished["steps"], 40, finished)
        self.assertGreater(finished["accuracy"], 0.5, finished)
        entry = next(r for r in get_json("/api/runs") if r["id"] == run["id"])
        self.assertEqual(entry["state"], "finished", entry)
        self.assertEqual(entry["step"], 40, entry)
        models = {m["id"]: m for m in get_json("/api/models")}
        self.assertIn(run["model"], models, f"the run's model is not in /api/models: {list(models)}")
        m = models[run["model"]]
        self.assertEqual((m["source"], m["model"], m["optimizer"]), ("run", "linear", "adam"), m)
        # Its model predicts; the stream of a finished run replays everything and ends.
        status, _, answer = request("POST", f"/api/predict?model={run['model']}", png_bytes(digit_pixels(ONE, 64, 4)))
        self.assertEqual(status, 200, answer)
        self.assertEqual([k for k, _ in read_events(run["id"], timeout=10)], kinds, "the replay differs")
        # Stopping it now is a conflict; unknown runs are 404.
        self.assertError(request("POST", f"/api/runs/{run['id']}/stop", b""), 409, run["id"], what="stop a finished run")
        self.assertError(request("POST", "/api/runs/run-9999/stop", b""), 404, "run-9999", what="stop an unknown run")
        self.assertError(request("GET", "/api/runs/run-9999/events"), 404, "run-9999", what="events of an unknown run")

    def test_max_runs(self):
        started = []
        try:
            for _ in range(4):
                status, _, answer = post_json("/api/runs", {"model": "cnn", "train_samples": 20000, "epochs": 3})
                self.assertEqual(status, 201, answer)
                started.append(json.loads(answer)["id"])
            self.assertEqual(len(running_runs()), 4)
            message = self.assertError(post_json("/api/runs", {"model": "linear", "train_samples": 100}), 429,
                                       what="a fifth run")
            self.assertRegex(message, r"\d", f"the 429 message does not say how many run: {message!r}")
        finally:
            for run_id in started:
                status, _, answer = request("POST", f"/api/runs/{run_id}/stop", b"")
                self.assertEqual(status, 200, f"stop {run_id}: {answer!r}")
                self.assertEqual(json.loads(answer)["id"], run_id)
        deadline = time.time() + 30
        states = {}
        while time.time() < deadline:
            states = {r["id"]: r["state"] for r in get_json("/api/runs") if r["id"] in started}
            if all(s != "running" for s in states.values()):
                break
            time.sleep(0.2)
        self.assertEqual(set(states.values()), {"stopped"}, f"states {time.time() - deadline + 30:.1f} s after stop: {states}")
        for run_id in started:
            kinds = [k for k, _ in read_events(run_id, timeout=10)]
            self.assertEqual(kinds[-1], "stopped", f"{run_id}'s stream ends with {kinds[-1:]}")


# ---------------------------------------------------------------- events

class EventsTest(ApiTest):
    @classmethod
    def setUpClass(cls):
        stop_all_runs()
        status, _, answer = post_json("/api/runs", {"model": "cnn", "train_samples": 20000, "epochs": 20})
        assert status == 201, answer
        cls.run_id = json.loads(answer)["id"]
        time.sleep(2)  # some events to replay

    @classmethod
    def tearDownClass(cls):
        request("POST", f"/api/runs/{cls.run_id}/stop", b"")
        stop_all_runs()

    def drop_stream(self, events=3, reset=False):
        """Opens the stream, reads a few events, closes (RST with reset). Returns the events seen."""
        s = socket.create_connection(("127.0.0.1", SERVER.port), timeout=10)
        try:
            if reset:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(f"GET /api/runs/{self.run_id}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            got = b""
            while got.count(b"event:") < events:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            return got.count(b"event:")
        finally:
            s.close()

    def settle(self, baseline_fds, seconds=15):
        """Waits until the server's open files are back near the baseline; returns the count."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            fds = SERVER.open_fds()
            if fds <= baseline_fds + 2:
                return fds
            time.sleep(0.2)
        return SERVER.open_fds()

    def info_seconds(self):
        start = time.time()
        status, _, _ = request("GET", "/api/info", timeout=30)
        self.assertEqual(status, 200)
        return time.time() - start

    def test_drop_streams(self):
        self.assertEqual(next(r for r in get_json("/api/runs") if r["id"] == self.run_id)["state"], "running")
        threads, fds = SERVER.proc_status("Threads"), SERVER.open_fds()
        for i in range(200):
            self.assertGreaterEqual(self.drop_stream(reset=i % 2 == 1), 3, f"stream {i}: fewer than 3 events")
        seconds = self.info_seconds()
        self.assertLess(seconds, 1.0, f"/api/info took {seconds:.2f} s right after 200 dropped streams")
        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            seen = list(pool.map(lambda i: self.drop_stream(reset=i % 2 == 1), range(50)))
        self.assertTrue(all(n >= 3 for n in seen), f"some parallel streams saw fewer than 3 events: {seen}")
        seconds = self.info_seconds()
        self.assertLess(seconds, 1.0, f"/api/info took {seconds:.2f} s right after 50 parallel dropped streams")
        after = self.settle(fds)
        self.assertLessEqual(after, fds + 2, f"the server still has {after} files open ({fds} before): streams stuck")
        now = SERVER.proc_status("Threads")
        print(f"\n  threads {threads} -> {now}, open files {fds} -> {after}", flush=True)
        self.assertLessEqual(now, threads + 2, f"threads grew from {threads} to {now} after the streams were gone")
        self.assertEqual(next(r for r in get_json("/api/runs") if r["id"] == self.run_id)["state"], "running")

    def test_stream_of_a_running_run_ends_when_stopped(self):
        status, _, answer = post_json("/api/runs", {"model": "linear", "train_samples": 60000, "epochs": 50})
        self.assertEqual(status, 201, answer)
        run_id = json.loads(answer)["id"]
        result = {}
        reader = threading.Thread(target=lambda: result.setdefault("events", read_events(run_id, timeout=60)))
        reader.start()
        time.sleep(1)
        self.assertEqual(request("POST", f"/api/runs/{run_id}/stop", b"")[0], 200)
        reader.join(30)
        self.assertFalse(reader.is_alive(), "the stream did not end after the run was stopped")
        self.assertEqual(result["events"][-1][0], "stopped", result["events"][-3:])


# ---------------------------------------------------------------- paths

TRAVERSALS = [
    "/api/experiments/..%2F..%2Fetc%2Fpasswd",
    "/api/experiments/..%2F/files/x",
    "/api/experiments/..%2F..%2F..%2F..%2Fetc/files/passwd",
    "/api/experiments/quick/files/..%2Fcompare.json",
    "/api/experiments/quick/files/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/api/experiments/quick/files/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/api/experiments/quick/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/api/experiments/quick/files/....%2F%2F....%2F%2Fetc%2Fpasswd",
    "/api/experiments/quick/files/..%5c..%5cetc%5cpasswd",
    "/api/experiments/quick/files/%252e%252e%252fetc%252fpasswd",
    "/api/experiments/%2e%2e/files/passwd",
    "/api/experiments/%2e%2e",
    "/api/experiments/..",
    "/api/experiments/.",
    "/api/experiments/%2Fetc/files/passwd",
    "/api/experiments/quick/files/%2Fetc%2Fpasswd",
    "/api/experiments/quick/files//etc/passwd",
    "/api/experiments//etc/files/passwd",
    "/api/experiments/quick%00/files/summary.csv",
    "/api/experiments/quick/files/summary.csv%00.png",
    "/api/experiments/quick/files/%00",
    "/api/experiments/quick/files/compare.json",
    "/api/experiments/quick/files/runs",
    "/api/experiments/quick/files/runs%2Fsgd-lr0.01.jsonl",
    "/api/experiments/" + "a" * 300 + "/files/summary.csv",
    "/api/experiments/quick/files/" + "b" * 300 + ".csv",
    "/api/experiments/" + "%2e%2e%2f" * 100 + "etc/files/passwd",
]


class PathsTest(ApiTest):
    def test_experiment_file(self):
        status, headers, body = request("GET", "/api/experiments/quick/files/summary.csv")
        self.assertEqual(status, 200, body[:300])
        self.assertTrue(headers["content-type"].startswith("text/csv"), headers)
        self.assertTrue(body.startswith(b"optimizer,"), body[:100])
        status, headers, body = request("GET", "/api/experiments/quick/files/loss.svg")
        self.assertEqual(status, 200)
        self.assertTrue(headers["content-type"].startswith("image/svg+xml"), headers)
        names = [e["name"] for e in get_json("/api/experiments")]
        self.assertIn("quick", names)
        e = get_json("/api/experiments/quick")
        self.assertEqual(len(e["rows"]), 2, e["rows"])
        self.assertIn("summary_markdown", e)

    def test_traversal(self):
        for path in TRAVERSALS:
            answer = request("GET", path)
            self.assertNotIn(b"root:", answer[2], f"{path} leaked /etc/passwd")
            self.assertNotIn(b'"optimizers"', answer[2], f"{path} leaked compare.json")
            self.assertError(answer, 404, what=f"GET {path}")
            message = json.loads(answer[2])["error"]
            self.assertTrue("not found" in message or "no such endpoint" in message,
                            f"GET {path}: the reason {message!r} does not say what was not found")

    def test_very_long_name(self):
        # Past httplib's URI limit (8 KiB) it answers itself: 414, still JSON.
        for n in (5000, 20000):
            answer = request("GET", "/api/experiments/quick/files/" + "c" * n)
            self.assertIsNone(error_problem(*answer), f"a {n}-character name: {error_problem(*answer)}")

    def plant(self, name):
        """A copy of the quick folder under another name, to plant links in."""
        folder = os.path.join(SERVER.runs, name)
        shutil.copytree(os.path.join(SERVER.runs, "quick"), folder, symlinks=True)
        return folder

    def test_symlinked_file(self):
        folder = self.plant("planted")
        os.remove(os.path.join(folder, "loss.svg"))
        os.symlink("/etc/passwd", os.path.join(folder, "loss.svg"))
        answer = request("GET", "/api/experiments/planted/files/loss.svg")
        self.assertNotIn(b"root:", answer[2], "a symlink to /etc/passwd was followed")
        self.assertError(answer, 404, what="a symlinked loss.svg pointing to /etc/passwd")

    def test_symlinked_summary(self):
        # /api/experiments/NAME reads summary.md and summary.csv: links out of --runs must not be followed either.
        folder = self.plant("planted-md")
        for name in ("summary.md", "summary.csv"):
            os.remove(os.path.join(folder, name))
            os.symlink("/etc/passwd", os.path.join(folder, name))
        status, _, body = request("GET", "/api/experiments/planted-md")
        self.assertNotIn(b"root:", body, f"GET /api/experiments/planted-md (summary.md -> /etc/passwd) leaked it: "
                                         f"status {status}, {body[:200]!r}")

    def test_symlinked_folder(self):
        outside = os.path.join(SERVER.tmp, "outside")
        shutil.copytree(os.path.join(SERVER.runs, "quick"), outside)
        with open(os.path.join(outside, "summary.md"), "w") as f:
            f.write("SECRET-OUTSIDE\n")
        os.symlink(outside, os.path.join(SERVER.runs, "linked"))
        answer = request("GET", "/api/experiments/linked/files/summary.md")
        self.assertNotIn(b"SECRET-OUTSIDE", answer[2], "a file of a symlinked folder outside --runs was served")
        self.assertError(answer, 404, what="a file of a folder linked outside --runs")
        status, _, body = request("GET", "/api/experiments/linked")
        self.assertNotIn(b"SECRET-OUTSIDE", body, f"GET /api/experiments/linked (a link to a folder outside --runs) "
                                                  f"served its summary.md: status {status}")

    def test_unknown_endpoints(self):
        for method, path in [("GET", "/api"), ("GET", "/api/"), ("GET", "/api/nothing"), ("POST", "/api/nothing"),
                             ("GET", "/api/runs/run-1/nothing"), ("GET", "/api/info/x"), ("POST", "/api/info"),
                             ("POST", "/api/models"), ("GET", "/api/runs/run-1/stop"),
                             ("POST", "/api/experiments/quick")]:
            answer = request(method, path, b"" if method == "POST" else None)
            self.assertError(answer, 404, what=f"{method} {path}")

    def test_not_utf8(self):
        # Error messages that quote the request must still be JSON (nlohmann's dump throws on bad UTF-8).
        for method, path, status in [("GET", "/api/nothing%ff", 404), ("GET", "/api/runs/%ff%fe/events", 404),
                                     ("POST", "/api/runs/%c3/stop", 404), ("POST", "/api/predict?top_k=%ff", 400),
                                     ("GET", "/api/trajectories?function=%ff", 400),
                                     ("GET", "/api/experiments/%ff", 404)]:
            self.assertError(request(method, path, b"" if method == "POST" else None), status, what=f"{method} {path}")

    def test_wrong_methods(self):
        for method, path in [("DELETE", "/api/runs"), ("PUT", "/api/runs"), ("PATCH", "/api/info"),
                             ("DELETE", "/api/runs/run-1"), ("PUT", "/api/predict"), ("OPTIONS", "/api/info"),
                             ("TRACE", "/api/info"), ("FOO", "/api/info"), ("CONNECT", "/api/info")]:
            for body in (None, b"{}"):
                try:
                    answer = request(method, path, body)
                except (http.client.HTTPException, OSError) as e:
                    self.fail(f"{method} {path}: no answer ({e})")
                self.assertTrue(400 <= answer[0] < 500, f"{method} {path}: status {answer[0]}")
                self.assertIsNone(error_problem(*answer), f"{method} {path}: {error_problem(*answer)}")
        self.assertTrue(SERVER.alive())

    def test_other_endpoints(self):
        m = get_json("/api/mistakes?limit=5")
        self.assertEqual(len(m["confusion"]), 10)
        self.assertLessEqual(len(m["mistakes"]), 5)
        self.assertError(request("GET", "/api/mistakes?limit=-1"), 400, "limit", what="limit=-1")
        self.assertError(request("GET", "/api/mistakes?model=nope"), 404, "nope", what="mistakes of model=nope")
        t = get_json("/api/trajectories?function=beale&optimizers=adam&steps=10")
        self.assertIsInstance(t, dict)
        self.assertError(request("GET", "/api/trajectories?function=nope"), 400, "nope", what="function=nope")
        self.assertError(request("GET", "/api/trajectories?optimizers=nope"), 400, "nope", what="optimizers=nope")
        self.assertError(request("GET", "/api/trajectories?steps=abc"), 400, "steps", what="steps=abc")
        self.assertError(request("GET", "/api/trajectories?steps=5000"), 400, "steps", what="steps=5000")

    def test_page(self):
        status, headers, body = request("GET", "/")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/html"), headers)
        answer = request("GET", "/no-such-page")
        self.assertEqual(answer[0], 404)


# ---------------------------------------------------------------- slow requests

class SlowRequestsTest(ApiTest):
    """Requests the server answers only after its read timeout (10 s): run side by side."""

    def exchange(self, data, seconds):
        """(seconds until the answer, the answer) on a connection kept open (no half-close: httplib
        answers nothing to a client that shuts its sending side)."""
        start = time.time()
        raw = raw_exchange(data, timeout=seconds)
        return time.time() - start, final_response(raw) if raw else None

    def test_slow_requests(self):
        png = png_bytes(digit_pixels(ONE, 64, 4))
        cut_short = (f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(png) + 500}\r\n\r\n").encode() + png
        status, _, answer = post_json("/api/runs", {"model": "linear", "train_samples": 100})
        run_id = json.loads(answer)["id"]
        # curl -X POST URL/api/runs/ID/stop sends no Content-Length: no body (RFC 9112 6.3), like an empty one.
        no_length = f"POST /api/runs/{run_id}/stop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            cut = pool.submit(self.exchange, cut_short, 25)
            stop = pool.submit(self.exchange, no_length, 25)
            (cut_seconds, cut_answer), (stop_seconds, stop_answer) = cut.result(), stop.result()
        print(f"\n  a body cut short: answered after {cut_seconds:.1f} s; "
              f"a stop without Content-Length: answered after {stop_seconds:.1f} s", flush=True)
        self.assertIsNotNone(cut_answer, "no answer to a body shorter than its Content-Length")
        self.assertError(cut_answer, 400, "cut short", what="a body shorter than its Content-Length")
        self.assertIsNotNone(stop_answer, "no answer to POST .../stop without Content-Length")
        self.assertIn(stop_answer[0], (200, 409), f"POST /api/runs/{run_id}/stop without Content-Length (as curl -X POST "
                      f"sends it) after {stop_seconds:.1f} s: {stop_answer[0]} {stop_answer[2][:200]!r}")
        self.assertLess(stop_seconds, 3, "POST .../stop without Content-Length waited for a body")


# ---------------------------------------------------------------- fuzz

API_PATHS = ["/api/info", "/api/models", "/api/predict", "/api/runs", "/api/runs/run-1/stop", "/api/runs/run-1/events",
             "/api/experiments", "/api/experiments/quick", "/api/experiments/quick/files/summary.csv",
             "/api/mistakes?limit=3", "/api/trajectories?function=saddle&optimizers=sgd&steps=20",
             "/api/predict?top_k=3&model=m.safetensors", "/", "/api/runs/run-1/events?x=1"]
METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "TRACE", "CONNECT", "PRI", "get", "G\0T",
           "POST ", "XYZZY", "M" * 300, ""]
# Run bodies whose runs, if a mutation happens to make them valid, are tiny.
RUN_BODIES = [b'{"model": "linear", "train_samples": 10, "epochs": 1, "optimizer": "adam", "lr": 0.01}',
              b'{"model": "linear", "train_samples": 10, "hypers": {"betas": [0.9, 0.99]}, "optimizer": "adam"}',
              b'{"model": "linear", "train_samples": 10, "schedule": "cosine", "schedule_hypers": {}}']


def mutate(rng, data, n=None):
    data = bytearray(data)
    for _ in range(n or rng.randint(1, 8)):
        op = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(i, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            data[i:i] = bytes([rng.choice(b"%\0\r\n/.\\{}[]\":,-9e?&=# \xff")])
        elif op == 2 and data:
            del data[i:i + rng.randint(1, 16)]
        elif op == 3:
            data[i:i] = rng.choice([b"%", b"%0", b"%zz", b"%00", b"%2e%2e%2f", b"%ff%fe", b"..", b"/" * 50,
                                    b"99999999999999999999", b"-1", b"1e999", b"null", b"\r\n\r\n"])
        elif op == 4:
            data = data[:i]
        elif op == 5 and len(data) < 1 << 20:
            j = rng.randrange(len(data) + 1)
            data[i:i] = data[j:j + rng.randint(1, 64)]
    return bytes(data)


def fuzz_case(rng, images):
    """(kind, bytes to send, raw_exchange options) of one malformed or odd request."""
    kind = rng.randrange(14)
    path = rng.choice(API_PATHS)
    if kind == 0:
        return "random bytes", bytes(rng.randrange(256) for _ in range(rng.randint(1, 3000))), {}
    if kind == 1:  # then close at once, or wait a little
        full = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789".encode()
        return "truncated request", full[:rng.randrange(len(full))], {"read": rng.random() < 0.5}
    if kind == 2:
        choice = rng.randrange(4)
        if choice == 0:
            headers = "X-Big: " + "a" * 100_000 + "\r\n"
        elif choice == 1:
            headers = "".join(f"X-{i}: {i}\r\n" for i in range(2000))
        elif choice == 2:
            headers = "Cookie: " + ";".join(f"k{i}=v" for i in range(20000)) + "\r\n"
        else:
            headers = "X-Folded: a\r\n" + " continued\r\n" * 1000
        return "huge headers", f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode(), {"timeout": 1}
    if kind == 3:
        target = rng.choice(["/api/%", "/api/%zz", "/api/experiments/%", "/api/experiments/%e%2", "/api/predict?top_k=%",
                             "/api/predict?model=%00", "/api/predict?top_k=%ff%fe", "/%%%%", "*", "http://x/api/info",
                             "api/info", "/api/info?" + "&" * 5000, "/api/info?a=" + "%41" * 2000,
                             "/api/predict?" + "x=1&" * 2000, "/api/runs/%2F%2F/stop", "/api/runs/..%2F../events",
                             "/api/info#frag", "/api/info?\0", "/" + "a/" * 3000, "/api/nothing%ff",
                             "/api/experiments/%c0%ae%c0%ae/files/summary.csv", "/api/runs/%ff/stop"])
        return "percent-encoding", (f"{rng.choice(['GET', 'POST'])} {target} HTTP/1.1\r\nHost: x\r\n"
                                    "Content-Length: 0\r\nConnection: close\r\n\r\n").encode(), {}
    if kind == 4:
        length = rng.choice(["-1", "-99999", "99999999999999999999", "18446744073709551615", "1e3", "abc", "",
                             " 5", "5 5", "0x10", "10", "100000", "+10"])
        body = rng.choice([b"", b"x" * 10, images[0][:200]])
        extra = rng.choice(["", "Content-Length: 3\r\n", "Transfer-Encoding: chunked\r\n"])
        return "bogus Content-Length", (
            f"POST {rng.choice(['/api/predict', '/api/runs', '/api/runs/run-1/stop'])} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {length}\r\n{extra}Connection: close\r\n\r\n").encode() + body, {}
    if kind == 5:
        line = rng.choice([b"GET /\r\n", b"GET /api/info\r\n\r\n", b"GET /api/info HTTP/0.9\r\n\r\n",
                           b"GET /api/info HTTP/2.0\r\n\r\n", b"GET /api/info HTTP/1.1 extra\r\n\r\n",
                           b"GET  /api/info  HTTP/1.1\r\n\r\n", b"\r\n\r\nGET /api/info HTTP/1.1\r\n\r\n",
                           b"GET /api/info HTTP/1.1\n\n", b"GET /api/info HTTP/1.1\r\nHost\r\n\r\n",
                           b"GET /api/info HTTP/1.1\r\n: empty\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                           b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32)])
        return "HTTP/0.9 and odd lines", line, {}
    if kind == 6:  # then close, half of them with a reset
        body = rng.choice(images)
        head = f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        return "half-sent body", head + body[:rng.randrange(len(body))], {"read": False,
                                                                          "linger_reset": rng.random() < 0.5}
    if kind == 7:
        body = rng.choice([b"zz\r\nabc\r\n0\r\n\r\n", b"ffffffffffffffff\r\nabc", b"-5\r\nabc\r\n0\r\n\r\n",
                           b"3\r\nabc", b"3\r\nabcdef\r\n0\r\n\r\n", b"0\r\n", b"",
                           b"1;ext=" + b"e" * 10000 + b"\r\nx\r\n0\r\n\r\n",
                           b"%x\r\n" % len(images[0]) + images[0] + b"\r\n0\r\nTrailer: " + b"t" * 9000 + b"\r\n\r\n"])
        return "bad chunked body", (f"POST {rng.choice(['/api/predict', '/api/runs'])} HTTP/1.1\r\nHost: x\r\n"
                                    "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + body, {}
    if kind == 8:
        boundary = rng.choice(["b", "", "x" * 5000, "\"quoted\"", "a;b", "--"])
        part = f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n".encode()
        body = mutate(rng, part + rng.choice(images) + f"\r\n--{boundary}--\r\n".encode(), rng.randint(0, 3))
        return "broken multipart", (
            f"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body, {}
    if kind == 9:  # a body that never comes
        return "Expect: 100-continue", (f"POST /api/predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                                        "Content-Length: 1000\r\n\r\n").encode(), {}
    # 10..13: random methods and API paths with mutated parameters and bodies
    method = rng.choice(METHODS) if kind == 10 else rng.choice(["GET", "POST"])
    target = path if rng.random() < 0.3 else mutate(rng, path.encode()).decode("latin-1").replace(" ", "%20")
    target = target.replace("\r", "").replace("\n", "")
    if "predict" in target or kind == 11:
        body = mutate(rng, rng.choice(images)) if rng.random() < 0.9 else rng.choice(images)
    elif "runs" in target or kind == 12:
        body = mutate(rng, rng.choice(RUN_BODIES))
    else:
        body = mutate(rng, b'{"a": 1}') if rng.random() < 0.5 else b""
    if kind == 11:
        target = "/api/predict?top_k=" + rng.choice(["3", "0", "10", "11", "-1", "%33", "3%00", "", "x", "%ff"])
    headers = f"Host: x\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
    if rng.random() < 0.2:
        headers += rng.choice(["Content-Type: multipart/form-data\r\n", "Content-Type: application/json\r\n",
                               "Content-Encoding: gzip\r\n", "Content-Encoding: deflate\r\n",
                               "Accept-Encoding: gzip, deflate\r\n", "Connection: keep-alive\r\n",
                               "Transfer-Encoding: identity\r\n"])
    name = {10: "random method", 11: "mutated predict", 12: "mutated run"}.get(kind, "mutated API request")
    return name, f"{method} {target} HTTP/1.1\r\n{headers}\r\n".encode("latin-1") + body, {}


def final_response(raw):
    """parse_response of the first non-1xx response in raw, its body decoded if compressed."""
    answer = parse_response(raw)
    while answer and 100 <= answer[0] < 200:
        raw = raw.partition(b"\r\n\r\n")[2]
        answer = parse_response(raw)
    if answer:
        status, headers, body = answer
        encoding = headers.get("content-encoding", "")
        try:
            if encoding == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif encoding == "deflate":
                body = zlib.decompress(body)
        except zlib.error:
            pass
        answer = (status, headers, body)
    return answer


class FuzzTest(ApiTest):
    CASES = 2500

    def test_fuzz(self):
        seed = ARGS.seed if ARGS.seed is not None else int(time.time())
        print(f"\nfuzz seed {seed} (--seed {seed} repeats it)", flush=True)
        rng = random.Random(seed)
        images = [png_bytes(digit_pixels(ONE, 64, 4)), bmp_bytes(digit_pixels(SEVEN, 32, 3)),
                  jpeg_bytes(digit_pixels(SEVEN, 32, 3))]
        cases = [fuzz_case(rng, images) for _ in range(self.CASES)]
        stats, problems, lock = {}, [], threading.Lock()

        def send(case):
            kind, data, how = case
            raw = raw_exchange(data, **{"timeout": 0.2, **how})
            answer = final_response(raw) if raw else None
            problem = None
            head = data.startswith(b"HEAD ")
            if answer and answer[0] >= 400 and not (head and answer[0] < 500):
                problem = error_problem(*answer)
                if problem is None and answer[0] >= 500:
                    problem = f"status {answer[0]}"
            with lock:
                key = (answer[0] if answer else "not read" if not how.get("read", True) else "no answer" if not raw
                       else "100 Continue only" if raw.startswith(b"HTTP/1.1 100") else "not HTTP")
                counts = stats.setdefault(kind, {})
                counts[key] = counts.get(key, 0) + 1
                if problem:
                    problems.append((kind, problem, data))

        start = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(send, cases))
        seconds = time.time() - start
        print(f"fuzz: {len(cases)} requests in {seconds:.1f} s; answers by kind:", flush=True)
        for kind in sorted(stats):
            print(f"  {kind}: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats[kind].items(), key=lambda kv: str(kv[0]))))
        self.assertTrue(SERVER.alive(), f"the server died during the fuzz (seed {seed}); see {SERVER.log_path}")
        started = running_runs()
        stop_all_runs()
        if started:
            print(f"fuzz: {len(started)} runs it started were stopped", flush=True)
        # The server still works.
        start = time.time()
        status, _, body = request("GET", "/api/info", timeout=10)
        self.assertEqual(status, 200)
        self.assertLess(time.time() - start, 1.0, "/api/info was slow after the fuzz")
        status, _, body = request("POST", "/api/predict", png_bytes(digit_pixels(SEVEN, 64, 4)))
        self.assertEqual(status, 200, f"a good predict after the fuzz: {status} {body[:200]!r}")
        # One example of each distinct problem (numbers in messages masked).
        examples = {}
        for kind, problem, data in problems:
            key = re.sub(r"(index|byte at index) \d+|0x[0-9A-F]{2}", "#", problem)
            examples.setdefault(key, (kind, data, 0))
            examples[key] = (*examples[key][:2], examples[key][2] + 1)
        if problems:
            self.fail(f"{len(problems)} error answers not JSON 4xx (seed {seed}); one of each:\n"
                      + "\n".join(f"{n} x [{kind}] {key} <- {data[:200]!r}"
                                   for key, (kind, data, n) in sorted(examples.items())))


# ---------------------------------------------------------------- main

def load_tests(loader, standard_tests, pattern):
    """The classes in this order (unittest's own is alphabetical), the fuzz last."""
    suite = unittest.TestSuite()
    for case in (PredictTest, RunsTest, EventsTest, PathsTest, SlowRequestsTest, FuzzTest):
        suite.addTests(loader.loadTestsFromTestCase(case))
    return suite


def setUpModule():
    global SERVER
    SERVER = Server(ARGS.binary, ARGS.data)
    try:
        SERVER.start()
    except Exception:
        SERVER.stop()
        raise


def tearDownModule():
    alive = SERVER.alive()
    code = SERVER.proc.returncode if SERVER.proc else None
    if not alive:
        print(f"\nthe server's log ({SERVER.log_path}):\n" + open(SERVER.log_path, errors="replace").read()[-3000:])
    SERVER.stop()
    if not alive:
        raise AssertionError(f"the server crashed during the tests (exit code {code})")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the mnist binary")
    parser.add_argument("--data", required=True, help="the MNIST folder (as mnist train --data)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (log, runs)")
    parser.add_argument("--seed", type=int, help="the fuzz's seed (default: the time)")
    ARGS, rest = parser.parse_known_args()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
