#!/usr/bin/python3
"""Browser tests of the web lab (`mnist serve`, docs/web.md): Debian's Chromium,
headless, driven through Selenium with real pointer events.

    /usr/bin/python3 tests/browser/test_lab.py --binary build/mnist --model M.safetensors --out DIR [--data DATA]
    /usr/bin/python3 tests/browser/test_lab.py --url http://127.0.0.1:8080 --out DIR

With --binary the script makes a small `mnist compare` folder, starts
`BINARY serve` on a free port with a fresh --runs folder, and stops it at the
end. It saves a screenshot of every tab (and two at a phone's size) and the
browser's console log into --out. Any failed check or JavaScript error makes
the exit code 1. Needs the Debian packages chromium, chromium-driver and
python3-selenium. Extra arguments go to unittest (e.g. -k trajectories).
"""
import argparse
import base64
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import zlib

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions import interaction
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.actions.pointer_input import PointerInput
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--window-size=1280,900"]
PHONE = (390, 844)

ARGS = None    # the parsed command line
SERVER = None  # the Server under test


# ---------------------------------------------------------------- the server

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The server under test: the one at --url, or BINARY serve started here."""

    def __init__(self, args):
        self.args = args
        self.proc = None
        self.tmp = None
        self.url = args.url.rstrip("/") if args.url else None

    def start(self):
        if self.url:
            self.wait_ready(timeout=30)
            return
        self.tmp = tempfile.mkdtemp(prefix="mnist-lab-")
        runs = os.path.join(self.tmp, "runs")
        os.makedirs(runs)
        data = ["--data", self.args.data] if self.args.data else []
        self.log_path = os.path.join(self.args.out, "server.log")
        self.log = open(self.log_path, "w")
        if not self.args.model:
            # A model good enough to read drawn digits: the CNN, one epoch of Adam.
            self.args.model = os.path.join(self.tmp, "model.safetensors")
            train = [self.args.binary, "train", "--optimizer", "adam", "--epochs", "1", "--log-every", "600",
                     "--save", self.args.model] + data
            print("running:", " ".join(train), flush=True)
            if subprocess.run(train, stdout=self.log, stderr=subprocess.STDOUT, timeout=900).returncode != 0:
                raise RuntimeError(f"{' '.join(train)} failed; see {self.log_path}")
        # A small compare folder for the Experiments tab.
        compare = [self.args.binary, "compare", "--optimizers", "sgd,adam", "--train-samples", "2000",
                   "--epochs", "1", "--out", os.path.join(runs, "quick")] + data
        print("running:", " ".join(compare), flush=True)
        done = subprocess.run(compare, stdout=self.log, stderr=subprocess.STDOUT, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(compare)} failed with exit code {done.returncode}; see {self.log_path}")
        port = free_port()
        serve = [self.args.binary, "serve", "--port", str(port), "--runs", runs, "--model", self.args.model] + data
        print("starting:", " ".join(serve), flush=True)
        self.proc = subprocess.Popen(serve, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        self.wait_ready(timeout=30)

    def wait_ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/api/info", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.url}/api/info did not answer within {timeout} s")

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.load(r)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- images

def digit_png(segments, size=200, thickness=10):
    """A PNG (8-bit grey) of dark strokes on white: segments are ((x0, y0), (x1, y1)) in 0..1."""
    def distance(px, py, a, b):
        (ax, ay), (bx, by) = a, b
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        return math.hypot(px - ax - t * dx, py - ay - t * dy)

    scaled = [((a[0] * size, a[1] * size), (b[0] * size, b[1] * size)) for a, b in segments]
    rows = b"".join(b"\0" + bytes(30 if min(distance(x, y, a, b) for a, b in scaled) < thickness else 250
                                   for x in range(size)) for y in range(size))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# Lit pixels (red channel over 40) of a canvas.
LIT_PIXELS_JS = """
const c = arguments[0];
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let lit = 0;
for (let i = 0; i < d.length; i += 4) if (d[i] > 40) lit++;
return lit;"""

# Distinct colours among a 40x40 sample of a canvas.
COLOURS_JS = """
const c = arguments[0];
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const seen = new Set();
for (let y = 0; y < 40; y++) for (let x = 0; x < 40; x++) {
  const i = 4 * (Math.floor(y * c.height / 40) * c.width + Math.floor(x * c.width / 40));
  seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
}
return seen.size;"""

# Points of one run's line in the loss chart (-1: no such line).
LOSS_POINTS_JS = """
const chart = Chart.getChart(document.getElementById('loss-chart'));
const line = chart.data.datasets.find((d) => d.label === arguments[0]);
return line ? line.data.length : -1;"""


# ---------------------------------------------------------------- the tests

class LabTest(unittest.TestCase):
    """One browser for all tests, run in the order of their names."""

    metrics = None  # the emulated screen, if any (see set_metrics)

    @classmethod
    def setUpClass(cls):
        cls.profile = tempfile.mkdtemp(prefix="mnist-lab-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={cls.profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        cls.console = open(os.path.join(ARGS.out, "console.log"), "w")
        cls.info = SERVER.get("/api/info")
        cls.load("#draw")

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.console.close()
        shutil.rmtree(cls.profile, ignore_errors=True)

    @classmethod
    def load(cls, fragment):
        """Loads the page afresh (a new fragment alone would not reload it)."""
        cls.driver.get(SERVER.url + "/" + fragment)
        cls.driver.refresh()
        # The page is ready once /api/info has filled the Train form.
        WebDriverWait(cls.driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#train-optimizer option"),
            "the page did not fill the Train form from /api/info within 30 s")

    def tearDown(self):
        """Fails the test on JavaScript errors in the console (not on the 4xx answers tests provoke)."""
        errors = []
        for entry in self.driver.get_log("browser"):
            self.console.write(f"{self.id()}: {entry['level']} {entry.get('source', '')} {entry['message']}\n")
            network = entry.get("source") == "network" or "Failed to load resource" in entry["message"]
            if entry["level"] == "SEVERE" and not network:
                errors.append(entry["message"])
        self.console.flush()
        self.assertEqual(errors, [], "JavaScript errors in the browser console")

    # ---- helpers

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition, message, timeout=30):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(lambda d: condition(), message)
        except TimeoutException:
            self.fail(f"{message} (waited {timeout} s)")

    def open_tab(self, name):
        self.find(f"#tab-{name}").click()
        self.wait(lambda: self.find(f"#panel-{name}").is_displayed(), f"the {name} tab did not open")

    def screenshot(self, name):
        """The whole page as OUT/NAME.png: the viewport is made as tall as the page first, and the
        page given time to lay out and redraw its charts for that size."""
        path = os.path.join(ARGS.out, f"{name}.png")
        width, height = self.driver.execute_script(
            "return [window.innerWidth, document.documentElement.scrollHeight]")
        phone = self.metrics is not None
        self.set_metrics({"width": width, "height": height, "deviceScaleFactor": 2 if phone else 1, "mobile": phone})
        time.sleep(0.5)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        self.set_metrics(self.metrics)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"  screenshot {path}", flush=True)

    def set_metrics(self, metrics):
        """Emulates a screen (CDP device metrics), or the window's own when metrics is None."""
        if metrics:
            self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        else:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def draw(self, points, kind=interaction.POINTER_MOUSE):
        """Strokes through points (0..1 of the pad) with a press, moves and a release."""
        pad = self.find("#pad")
        width, height = pad.size["width"], pad.size["height"]
        pointer = PointerInput(kind, "finger" if kind == interaction.POINTER_TOUCH else "mouse")
        actions = ActionBuilder(self.driver, mouse=pointer, duration=20)
        # Offsets are from the element's centre (W3C actions).
        offset = [(round((x - 0.5) * width), round((y - 0.5) * height)) for x, y in points]
        actions.pointer_action.move_to(pad, *offset[0]).pointer_down()
        for x, y in offset[1:]:
            actions.pointer_action.move_to(pad, x, y)
        actions.pointer_action.pointer_up()
        actions.perform()

    def prediction(self):
        """The digit shown once no prediction request is in flight or waiting."""
        self.wait(lambda: self.find("#draw-result").get_attribute("data-state") == "idle",
                  "the prediction requests did not settle", timeout=30)
        error = self.find("#draw-error")
        self.assertFalse(error.is_displayed(), f"Draw shows an error: {error.text}")
        digit = self.find("#predicted-digit").get_attribute("data-digit")
        self.assertRegex(digit, r"^\d$", "no predicted digit is shown")
        return int(digit)

    def lit_pixels(self, element):
        return self.driver.execute_script(LIT_PIXELS_JS, element)

    def no_horizontal_scroll(self, where):
        overflow = self.driver.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        self.assertLessEqual(overflow, 1, f"{where}: the page is {overflow}px wider than the phone's screen")

    def start_run(self, optimizer, model, samples, epochs):
        """Starts a run from the form; returns its row's id, or None if no row was added."""
        Select(self.find("#train-optimizer")).select_by_value(optimizer)
        Select(self.find("#train-model")).select_by_value(model)
        for css, value in (("#train-samples", samples), ("#train-epochs", epochs)):
            self.find(css).clear()
            self.find(css).send_keys(str(value))
        before = {row.get_attribute("data-run") for row in self.finds("#run-table tbody tr")}
        self.find("#train-start").click()
        self.wait(lambda: self.find("#train-start").is_enabled(), "Start stayed disabled")
        added = [r.get_attribute("data-run") for r in self.finds("#run-table tbody tr")
                 if r.get_attribute("data-run") not in before]
        return added[0] if added else None

    def run_state(self, run_id):
        return self.find(f'#run-table tr[data-run="{run_id}"]').get_attribute("data-state")

    # ---- the tests

    def test_1_draw(self):
        self.open_tab("draw")
        self.wait(lambda: self.find("#draw-model").get_attribute("value"), "Draw's model list is empty")
        one = [(0.5, 0.15 + 0.7 * i / 12) for i in range(13)]
        self.draw(one)
        self.assertEqual(self.prediction(), 1, "a vertical stroke is not read as a 1")
        self.assertGreater(self.lit_pixels(self.find("#model-input")), 20, "the 28×28 input shown is blank")
        bars = self.finds("#prob-bars .bar-row")
        self.assertEqual(len(bars), 10, "there should be one probability bar per digit")
        self.assertIn("best", bars[1].get_attribute("class"), "the bar of the predicted 1 is not highlighted")

        self.find("#draw-clear").click()
        self.assertEqual(self.find("#predicted-digit").text, "?", "Clear did not reset the prediction")
        self.assertEqual(self.lit_pixels(self.find("#model-input")), 0, "Clear did not blank the 28×28 input")

        zero = [(0.5 + 0.22 * math.sin(2 * math.pi * i / 40), 0.5 - 0.33 * math.cos(2 * math.pi * i / 40))
                for i in range(41)]
        self.draw(zero, interaction.POINTER_TOUCH)  # a finger, as on a phone
        self.assertEqual(self.prediction(), 0, "an ellipse drawn with a finger is not read as a 0")
        self.assertGreater(self.lit_pixels(self.find("#model-input")), 20, "the 28×28 input shown is blank")
        self.screenshot("draw")

    def test_2_upload(self):
        self.open_tab("draw")
        self.find("#draw-clear").click()
        path = os.path.join(ARGS.out, "upload-seven.png")
        with open(path, "wb") as f:
            f.write(digit_png([((0.25, 0.2), (0.75, 0.2)), ((0.75, 0.2), (0.42, 0.85))]))
        self.find("#draw-upload").send_keys(os.path.abspath(path))
        self.wait(lambda: self.find("#predicted-digit").get_attribute("data-source") == "upload-seven.png",
                  "no prediction appeared for the uploaded photo")
        self.assertEqual(self.prediction(), 7, "the uploaded photo of a 7 is not read as a 7")
        self.assertGreater(self.lit_pixels(self.find("#model-input")), 20, "the 28×28 input of the photo is blank")

    def test_3_train(self):
        self.open_tab("train")
        adam = next(o for o in self.info["optimizers"] if o["name"] == "adam")
        Select(self.find("#train-optimizer")).select_by_value("adam")
        self.assertEqual(float(self.find("#train-lr").get_attribute("value")), adam["lr"],
                         "choosing adam did not fill in its default learning rate")
        run_id = self.start_run("sgd", "linear", 2000, 1)
        self.assertIsNotNone(run_id, f"no run was added: {self.find('#train-error').text}")
        self.wait(lambda: self.driver.execute_script(LOSS_POINTS_JS, run_id) > 0,
                  f"the loss chart gained no points for {run_id}", timeout=120)
        self.wait(lambda: self.run_state(run_id) == "finished", f"{run_id} did not finish", timeout=300)
        accuracy = self.find(f'#run-table tr[data-run="{run_id}"] td:nth-child(6)').text
        self.assertRegex(accuracy, r"\d+\.\d+%", f"{run_id} shows no accuracy")
        self.screenshot("train")

        # Its model can be used in Draw.
        self.find(f'#run-table tr[data-run="{run_id}"] button.use').click()
        self.wait(lambda: self.find("#panel-draw").is_displayed(), "Use in Draw did not open Draw")
        self.assertEqual(self.find("#draw-model").get_attribute("value"), run_id,
                         f"Use in Draw did not select {run_id}'s model")

    def test_4_stop_and_limit(self):
        self.open_tab("train")
        limit = self.info["limits"]["max_runs"]
        long_runs = []
        for _ in range(limit):
            run_id = self.start_run("sgd", "cnn", 20000, 10)
            self.assertIsNotNone(run_id, f"a run below the limit was refused: {self.find('#train-error').text}")
            long_runs.append(run_id)
        # One more than the limit: the server's 429 message is shown.
        self.assertIsNone(self.start_run("sgd", "cnn", 20000, 10), f"a run beyond the limit of {limit} was added")
        error = self.find("#train-error")
        self.assertTrue(error.is_displayed() and error.text.strip(), "the refusal of a run beyond the limit is not shown")
        self.assertEqual(error.get_attribute("data-status"), "429", f"expected a 429, got: {error.text}")
        self.screenshot("train-limit")
        for run_id in long_runs:
            self.assertEqual(self.run_state(run_id), "running", f"{run_id} should still be running")
            self.find(f'#run-table tr[data-run="{run_id}"] button.stop').click()
        for run_id in long_runs:
            self.wait(lambda: self.run_state(run_id) == "stopped", f"{run_id} did not become stopped", timeout=60)

    def test_5_mistakes(self):
        self.open_tab("mistakes")
        self.wait(lambda: len(self.finds("#confusion td.cell")) == 100,
                  "the confusion matrix did not appear with 100 cells", timeout=120)
        self.assertRegex(self.find("#mistakes-status").text, r"\d+\.\d+%", "no accuracy above the matrix")
        cells = [(c.get_attribute("data-true"), c.get_attribute("data-predicted"), c)
                 for c in self.finds("#confusion td.cell")]
        wrong = [(t, p, c) for t, p, c in cells if t != p and int(c.text) > 0]
        self.assertTrue(wrong, "the model makes no mistakes: no off-diagonal cell to click")
        true, predicted, cell = max(wrong, key=lambda w: int(w[2].text))
        cell.find_element(By.TAG_NAME, "button").click()
        self.wait(lambda: self.finds("#mistake-list canvas"), f"no digits are shown for cell ({true}, {predicted})")
        captions = {f.text for f in self.finds("#mistake-list figcaption")}
        self.assertEqual(captions, {f"{true} → {predicted}"}, "the digits shown are not the clicked cell's")
        self.assertGreater(self.lit_pixels(self.find("#mistake-list canvas")), 20, "a mistake's image is blank")
        self.screenshot("mistakes")

    def test_6_experiments(self):
        self.open_tab("experiments")
        self.wait(lambda: self.finds("#experiment-select option"), "no experiment is listed")
        if ARGS.binary:
            Select(self.find("#experiment-select")).select_by_value("quick")
        self.wait(lambda: self.finds("#experiment-view table.summary tbody tr"), "the summary table has no rows")
        self.wait(lambda: self.driver.execute_script(
            "return [...document.querySelectorAll('#experiment-view img')].some((i) => i.complete && i.naturalWidth > 0)"),
            "no figure loaded")
        self.screenshot("experiments")

    def test_7_trajectories(self):
        self.open_tab("trajectories")
        Select(self.find("#traj-function")).select_by_value("rosenbrock")
        for box in self.finds("#traj-optimizers input"):
            if box.is_selected() != (box.get_attribute("value") in ("sgd", "momentum", "adam")):
                box.click()
        self.find("#traj-steps").clear()
        self.find("#traj-steps").send_keys("150")
        self.find("#traj-run").click()
        slider = self.find("#traj-slider")
        self.wait(lambda: slider.get_attribute("max") == "150", "the trajectories did not load")
        self.assertFalse(self.find("#traj-error").is_displayed(), self.find("#traj-error").text)
        self.wait(lambda: 0 < int(slider.get_attribute("value")), "the animation did not start")
        self.wait(lambda: slider.get_attribute("value") == "150", "the animation did not reach the last step")
        self.assertGreater(self.driver.execute_script(COLOURS_JS, self.find("#traj-canvas")), 10,
                           "the contour plot is not drawn")
        self.assertEqual(len(self.finds("#traj-legend li")), 3, "the legend should name the three optimizers")
        # Play again from the start, then pause midway.
        self.find("#traj-play").click()
        self.wait(lambda: 0 < int(slider.get_attribute("value")) < 150, "Play did not restart the animation")
        self.find("#traj-play").click()
        paused = slider.get_attribute("value")
        time.sleep(0.5)
        self.assertEqual(slider.get_attribute("value"), paused, "Pause did not stop the animation")
        self.screenshot("trajectories")

    def test_8_reload(self):
        self.load("#train")
        entries = SERVER.get("/api/runs")
        self.wait(lambda: len(self.finds("#run-table tbody tr")) == len(entries),
                  f"after a reload the run list does not show the server's {len(entries)} runs")
        for entry in entries:
            if entry["state"] != "running":
                self.wait(lambda: self.run_state(entry["id"]) == entry["state"],
                          f"after a reload {entry['id']} is not shown {entry['state']}")
        finished = [e["id"] for e in entries if e["state"] == "finished"]
        self.assertTrue(finished, "no finished run to check the replayed loss curve of")
        self.wait(lambda: self.driver.execute_script(LOSS_POINTS_JS, finished[0]) > 0,
                  f"after a reload the loss chart has no points for {finished[0]}")

    def test_9_phone(self):
        # A phone's screen (a window cannot be made that narrow).
        width, height = PHONE
        LabTest.metrics = {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True}
        self.set_metrics(self.metrics)
        try:
            self.load("#draw")
            self.no_horizontal_scroll("Draw")
            self.draw([(0.5, 0.15 + 0.7 * i / 12) for i in range(13)], interaction.POINTER_TOUCH)
            self.assertEqual(self.prediction(), 1, "a vertical stroke on the phone is not read as a 1")
            self.screenshot("phone-draw")
            for tab in ("train", "trajectories"):
                self.open_tab(tab)
                self.no_horizontal_scroll(tab)
            self.find("#traj-run").click()
            self.wait(lambda: self.find("#traj-slider").is_enabled(), "the trajectories did not load on the phone")
            self.screenshot("phone-trajectories")
        finally:
            LabTest.metrics = None
            self.set_metrics(None)


def main():
    global ARGS, SERVER
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", help="the mnist binary to run `serve` (and `compare`) with")
    parser.add_argument("--model", help="the checkpoint for --model (with --binary; default: train a CNN for one "
                                        "epoch with Adam, about 10 s)")
    parser.add_argument("--data", help="the data set for --data (with --binary)")
    parser.add_argument("--url", help="test a server already running at this base URL instead")
    parser.add_argument("--out", required=True, help="folder for the screenshots and logs")
    ARGS, rest = parser.parse_known_args()
    if bool(ARGS.binary) == bool(ARGS.url):
        parser.error("give either --binary (and --model) or --url")
    os.makedirs(ARGS.out, exist_ok=True)
    SERVER = Server(ARGS)
    # Killed, the script still stops the server it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        SERVER.start()
        result = unittest.main(argv=[sys.argv[0], "-v"] + rest, exit=False).result
    finally:
        SERVER.stop()
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
