"""`ganlab report`: one self-contained HTML page per run; TensorBoard live and converted."""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shlex
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from ganlab.core.train import resume_config, train
from ganlab.errors import GanlabError
from ganlab.experiments.probe.config import ProbeResult
from ganlab.experiments.report import report
from ganlab.io.rundir import RunDir

TRAIN_METRICS = ("loss_d", "loss_g", "d_x", "d_g_z", "images_per_s")
VOID = {"meta", "img", "br", "hr", "link", "input", "source", "wbr", "col", "area"}


class Page(HTMLParser):
    """The report's HTML, parsed strictly: every tag closed in order; its images, links, text."""

    def __init__(self, text: str):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()
        assert self.stack == [], f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def plotted(self) -> set[str]:
        return {m for img in self.images for m in img.get("data-metrics", "").split()}


def decode_images(page: Page) -> list[Image.Image]:
    """Every <img> is an embedded (data: URI) image that decodes."""
    out = []
    for img in page.images:
        src = img["src"]
        assert src.startswith("data:image/") and ";base64," in src, src[:40]
        pixels = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
        pixels.load()
        assert pixels.width > 0 and pixels.height > 0
        assert img.get("alt"), "every image says what it shows"
        out.append(pixels)
    return out


def check_self_contained(page: Page) -> None:
    """Nothing but embedded images and in-page anchors: the page needs no network or files."""
    assert all(u.startswith(("data:", "#")) for u in page.urls), page.urls


def copy_run(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run"))


def test_report_of_the_tiny_run(tiny_run, tmp_path):
    out = tmp_path / "report.html"
    result = report(tiny_run, out=out)  # --out elsewhere: the shared run is not written to
    page = Page(out.read_text())
    check_self_contained(page)
    images = decode_images(page)
    grids = sorted((tiny_run / "samples").glob("*.png"))
    assert result.grids == len(grids) == 1
    # a plot per logged metric, the grid large plus its thumbnail
    assert page.plotted() == set(TRAIN_METRICS) == set(result.plots)
    assert len(images) == 3 + 2  # losses, D outputs, images/s; the grid large and small
    text = page.all_text
    assert "Samples after each epoch, fixed seeds 0-15 (paper Figs. 2-3)" in text
    assert "ganlab sample" in text and "--seeds 0-15" in text
    for key in ("batch_size", "lr", "nz", "grid_seeds"):  # the config table
        assert key in text
    assert "Not recorded (the run was started from Python)" in text  # no command in config.json
    assert result.missing == [] and result.warnings == []
    assert "FID and KID appear here once" in text  # says where FID would come from
    assert not (tiny_run / "report.html").exists()


def test_report_of_a_resumed_run(tiny_run, tmp_path, tiny_config):
    run = copy_run(tiny_run, tmp_path)
    train(resume_config(run, {"epochs": 2}), resume=run)
    result = report(run)
    page = Page((run / "report.html").read_text())
    decode_images(page)
    assert result.grids == 2 and page.plotted() >= set(TRAIN_METRICS)
    steps_per_epoch = RunDir(run).read_config()["steps_per_epoch"]
    assert f"resumed at step {steps_per_epoch}" in page.all_text
    assert "epoch 1" in page.all_text and "epoch 2" in page.all_text


RECIPE_OPTIONS = ("loss", "spectral_norm", "ema", "lr_g", "lr_d", "d_steps", "diffaug", "r1")


def test_report_shows_the_recipe_and_the_averaged_g(ema_run, tiny_run, tmp_path):
    report(ema_run, out=tmp_path / "ema.html")
    text = Page((tmp_path / "ema.html").read_text()).all_text
    # the tiny runs train in batches of 64, the paper's recipe in 128
    assert "Training recipe: paper" in text and "Changed from the recipe: batch_size, ema." in text
    assert all(option in text for option in (*RECIPE_OPTIONS, "recipe option"))
    assert "from the averaged G (--ema 0.9)" in text  # the samples' caption
    assert "come from the averaged G (--ema 0.9); --weights raw renders the trained G" in text
    report(tiny_run, out=tmp_path / "plain.html")
    plain = Page((tmp_path / "plain.html").read_text()).all_text
    assert "Training recipe: paper" in plain and "Changed from the recipe: batch_size." in plain
    assert "Samples come from the trained G" in plain and "averaged G (--ema" not in plain


def test_a_run_older_than_the_recipes_reports_the_papers(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    config = json.loads((run / "config.json").read_text())
    for key in ("recipe", *RECIPE_OPTIONS):
        del config["config"][key]
    (run / "config.json").write_text(json.dumps(config))
    result = report(run)
    text = Page((run / "report.html").read_text()).all_text
    assert result.missing == [] and result.warnings == []
    assert "Training recipe: paper" in text and "Samples come from the trained G" in text
    assert "Not recorded (the run predates them): recipe, loss, spectral_norm" in text
    assert "Changed from the recipe: batch_size." in text  # nothing missing counts as changed
    assert "Samples after each epoch, fixed seeds 0-15 (paper Figs. 2-3): the latest" in text


def test_eval_records_get_fid_and_kid_plots(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    rd = RunDir(run)
    for step, fid, kid in ((10, 250.0, 0.30), (28, 180.5, 0.21)):
        rd.append_metrics({"kind": "eval", "step": step, "fid": fid, "kid": kid, "n": 1000})
    result = report(run)
    page = Page((run / "report.html").read_text())
    decode_images(page)
    assert {"fid", "kid"} <= page.plotted() and {"fid", "kid"} <= set(result.plots)
    assert "180.5" in page.all_text  # the eval table
    assert "FID and KID appear here once" not in page.all_text


def test_a_run_missing_pieces_still_renders(tiny_run, tmp_path, cli):
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    shutil.copy(tiny_run / "config.json", only_config)
    result = report(only_config)
    page = Page((only_config / "report.html").read_text())
    assert page.images == []
    text = page.all_text
    assert "metrics.jsonl (missing or empty)" in text and "no sample grids" in text
    assert "no checkpoint" in text and len(result.missing) == 3

    # metrics only, the last line cut by a crash: the curves still render, the line is named
    metrics_only = tmp_path / "metrics-only"
    metrics_only.mkdir()
    lines = (tiny_run / "metrics.jsonl").read_text()
    (metrics_only / "metrics.jsonl").write_text(lines + '{"kind": "train", "st')
    result = report(metrics_only)
    page = Page((metrics_only / "report.html").read_text())
    decode_images(page)
    assert page.plotted() == set(TRAIN_METRICS)
    assert "config.json: the config and the command" in page.all_text
    assert any("1 line(s) of metrics.jsonl are not JSON" in m for m in result.missing)

    # nothing of a run at all: one paragraph, exit 1
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("report", empty)
    assert r.exit_code == 1 and "holds nothing of a ganlab run" in r.output


def test_experiments_found_beside_the_run(tiny_run, tmp_path, cli, monkeypatch):
    run = copy_run(tiny_run, tmp_path)
    monkeypatch.chdir(run)  # commands as a user runs them from the run directory
    r = cli("interpolate", ".", "--seeds", "3,5,9", "--steps", "2", "--out", "walk.png", "--json")
    assert r.exit_code == 0, r.output
    Path("walk.json").write_text(r.stdout)
    assert cli("concept", "add", "a", "--seeds", "1,2", "--run", ".").exit_code == 0
    assert cli("concept", "add", "b c", "--seeds", "4", "--run", ".").exit_code == 0
    r = cli("arithmetic", ".", "--minus", "a", "--plus", "b c", "-n", "2", "--out", "ar.png",
            "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    Path("ar.json").write_text(r.stdout)
    probe = ProbeResult(dataset="digits", protocol={"name": "cifar10"}, test_accuracy=0.9583,
                        test_error=0.0417, C=1e-3, feature_dim=448, layers=[0, 1])  # fmt: skip
    argv = ["ganlab", "probe", "digits", "-c", ".", "--layers", "0,1", "--json"]
    Path("probe.json").write_text(json.dumps({**probe.to_dict(), "kind": "probe", "argv": argv}))
    scores = {"step": 28, "checkpoint": "step-00000028.pt", "fid": 312.25, "kid": 0.3, "n": 64}
    evaluated = {"protocol": {}, "results": [scores], "warnings": []}
    argv = ["ganlab", "eval", ".", "--json"]
    Path("eval.json").write_text(json.dumps({**evaluated, "kind": "eval", "argv": argv}))
    Image.new("RGB", (20, 10), (200, 30, 30)).save("notes.png")
    Path("broken.png").write_bytes(b"not a png")

    result = report(".")
    page = Page(Path("report.html").read_text())
    decode_images(page)
    text = page.all_text
    assert "Walks in the latent space, lerp (paper Fig. 4)" in result.experiments
    assert "Vector arithmetic on z (paper Fig. 7)" in result.experiments
    assert "D's features scored by a linear L2-SVM (paper Table 1)" in result.experiments
    assert "FID / KID of checkpoints (not in the paper)" in result.experiments
    assert any("Concepts" in c for c in result.experiments) and "312.25" in text
    assert "95.83%" in text and "Other images in the run directory" in text and "notes.png" in text
    assert any("broken.png is not a readable image" in m for m in result.missing)
    assert "ganlab probe digits -c . --layers 0,1 --json" in page.text

    # the commands the page gives (the argv each result recorded) make the same images again
    for name, original in (("interpolate", "walk.png"), ("arithmetic", "ar.png")):
        command = next(line for line in page.text if line.startswith(f"ganlab {name} "))
        args = shlex.split(command)[1:]
        args[args.index("--out") + 1] = f"again-{original}"
        r = cli(*args)
        assert r.exit_code == 0, (command, r.output)
        assert Path(f"again-{original}").read_bytes() == Path(original).read_bytes(), command


def test_a_result_is_what_its_kind_says_and_shows_its_argv(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    # a sample result with the fields of a walk too: the kind decides, not the fields
    argv = ["ganlab", "sample", "my run", "--seeds", "0-3", "--device", "cpu", "--json"]
    fields = {"count": 4, "seeds": "0-3", "step": 28, "rows": [[0, 1]], "frames_per_row": 3}
    (run / "s.json").write_text(json.dumps({**fields, "kind": "sample", "argv": argv}))
    # a kind the page has no caption for: its fields, and its command
    mined = {"concepts": [{"name": "3"}], "kind": "concept mine", "argv": ["ganlab", "concept",
             "mine", "--run", "my run", "--pool", "200"]}  # fmt: skip
    (run / "mined.json").write_text(json.dumps(mined))
    result = report(run)
    page = Page((run / "report.html").read_text())
    assert "Samples (paper Figs. 2-3)" in result.experiments
    assert not any("Walks" in c for c in result.experiments)
    assert "The result of ganlab concept mine" in result.experiments
    assert "ganlab sample 'my run' --seeds 0-3 --device cpu --json" in page.text
    assert "ganlab concept mine --run 'my run' --pool 200" in page.text


def test_a_result_without_kind_is_listed_as_it_is(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    # `interpolate --json` as an older ganlab wrote it: no kind, no argv
    old = {"out": "walk.png", "rows": [[3, 5]], "frames_per_row": 4, "steps": 2, "mode": "lerp"}
    (run / "walk.json").write_text(json.dumps(old))
    (run / "mask.json").write_text(json.dumps({"format": "ganlab-forget-mask", "layer": 2}))
    result = report(run)
    page = Page((run / "report.html").read_text())
    text = page.all_text
    assert result.experiments[-1] == "walk.json: a result without a kind"
    assert "a ganlab older than result kinds wrote it" in text
    assert "frames_per_row" in text and "[[3, 5]]" in text  # its fields, as they are
    assert not any("Walks" in c for c in result.experiments)  # no guess at what made it
    assert not any(line.startswith("ganlab interpolate") for line in page.text)
    assert "mask.json" not in text  # a file of ganlab's own format is not a result


def test_report_cli(tiny_run, tmp_path, cli, monkeypatch):
    opened = []
    monkeypatch.setattr("webbrowser.open", opened.append)
    out = tmp_path / "r.html"
    r = cli("report", tiny_run, "--out", out, "--json", "--open")
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    assert result["out"] == str(out) and result["grids"] == 1 and result["bytes"] > 0
    assert opened == [out.resolve().as_uri()]
    r = cli("report", tiny_run, "--out", tmp_path / "r.txt")
    assert r.exit_code == 2 and "html" in r.output


# --- TensorBoard ------------------------------------------------------------------------------


def read_events(logdir: Path):
    """(scalars {tag: [(step, value)]}, image steps) as TensorBoard itself reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
    images = [e.step for e in acc.Images("samples/grid")] if tags["images"] else []
    return scalars, images


def test_tensorboard_live_equals_converted(tmp_path, tiny_config):
    pytest.importorskip("tensorboard", reason="pip install 'ganlab[tb]'")
    run = tmp_path / "run"
    train(tiny_config(max_steps=12, tensorboard=True), out=run)
    train(resume_config(run, {"max_steps": 20}), resume=run)  # resumed: tb goes on
    live_scalars, live_images = read_events(run / "tb")
    records = RunDir(run).read_metrics()
    train_records = [r for r in records if r["kind"] == "train"]
    steps = [r["step"] for r in train_records]
    assert steps == [5, 10, 12, 15, 20]  # the checkpoint's own step 12 is kept
    assert [s for s, _ in live_scalars["train/loss_d"]] == steps
    for tag in ("loss_d", "loss_g", "d_x", "d_g_z", "images_per_s"):
        got = [v for _, v in live_scalars[f"train/{tag}"]]
        assert got == pytest.approx([r[tag] for r in train_records], rel=1e-6)
    assert live_images == [12, 20]  # the partial-epoch grids, at their steps

    # a conversion leaves the events training wrote alone
    files = {p.name: p.read_bytes() for p in (run / "tb").iterdir()}
    assert report(run, tensorboard=True).tensorboard == str(run / "tb")
    assert {p.name: p.read_bytes() for p in (run / "tb").iterdir()} == files

    # converting the metrics afterwards gives the same scalars and grids
    shutil.rmtree(run / "tb")
    for _ in range(2):  # a second conversion replaces the first, it does not add to it
        result = report(run, tensorboard=True)
    assert result.tensorboard == str(run / "tb") and len(list((run / "tb").iterdir())) == 1
    scalars, images = read_events(run / "tb")
    assert scalars.keys() == live_scalars.keys() and images == live_images
    for tag, points in scalars.items():
        assert points == live_scalars[tag], tag  # the same float32 values at the same steps
    assert not [p for p in run.iterdir() if p.name.startswith(".tb")]  # no leftovers


def test_tensorboard_missing_is_one_paragraph_with_the_install_command(
    tiny_run, tmp_path, cli, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if not installed
    r = cli("report", tiny_run, "--out", tmp_path / "r.html", "--tensorboard")
    assert r.exit_code == 1 and "pip install 'ganlab[tb]'" in r.output
    assert not (tmp_path / "r.html").exists()
    r = cli("train", "digits", "--tensorboard", "--max-steps", "1", "--out", tmp_path / "t")
    assert r.exit_code == 1 and "pip install 'ganlab[tb]'" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "t").exists()


def test_report_cli_tensorboard_conversion(tiny_run, tmp_path, cli):
    with pytest.raises(GanlabError, match="holds nothing"):
        report(tmp_path)
    pytest.importorskip("tensorboard", reason="pip install 'ganlab[tb]'")
    run = copy_run(tiny_run, tmp_path)
    r = cli("report", run, "--tensorboard", "--quiet")
    assert r.exit_code == 0, r.output
    scalars, images = read_events(run / "tb")
    assert "epoch/loss_d" in scalars and images == [RunDir(run).read_config()["steps_per_epoch"]]


# --- in a real browser ------------------------------------------------------------------------


class DevTools:
    """Chromium's DevTools protocol over --remote-debugging-pipe: JSON messages, each ended by
    a NUL byte, on the browser's fd 3 (in) and fd 4 (out). Only the standard library."""

    def __init__(self, binary: Path, profile: Path, log: Path):
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--hide-scrollbars", "--mute-audio", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(  # bash (dash takes fds up to 9) puts the pipes on 3 and 4
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}', str(binary), *args],
            pass_fds=(to_browser, from_browser),
            stdin=subprocess.DEVNULL,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next_id, self.events = b"", 0, []

    def call(self, method: str, session: str | None = None, timeout: float = 60, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._receive(lambda m: m.get("id") == self._next_id, timeout)
        assert "error" not in reply, (method, reply["error"])
        return reply["result"]

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        return self._receive(lambda m: m.get("method") == method, timeout)

    def _receive(self, wanted, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "method" in message:
                    self.events.append(message)
                if wanted(message):
                    return message
            left = deadline - time.monotonic()
            assert left > 0, "Chromium did not answer in time"
            if select.select([self._in], [], [], left)[0]:
                chunk = os.read(self._in, 1 << 20)
                assert chunk, "Chromium closed the DevTools pipe"
                self._buffer += chunk

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)


BROKEN_IMAGES = "[...document.images].filter(i => !i.complete || i.naturalWidth === 0).length"


@pytest.mark.slow
def test_report_in_headless_chromium(tiny_run, tmp_path, chromium):
    run = copy_run(tiny_run, tmp_path)
    RunDir(run).append_metrics({"kind": "eval", "step": 28, "fid": 180.5, "kid": 0.21})
    report(run)
    browser = DevTools(chromium, tmp_path / "profile", tmp_path / "chromium.log")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)
        session = session["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session, width=1280, height=900,
                     deviceScaleFactor=1, mobile=False)  # fmt: skip
        browser.call("Page.navigate", session, url=(run / "report.html").as_uri())
        browser.wait_for("Page.loadEventFired")
        count = browser.call("Runtime.evaluate", session, expression="document.images.length",
                             returnByValue=True)["result"]["value"]  # fmt: skip
        broken = browser.call("Runtime.evaluate", session, expression=BROKEN_IMAGES,
                              returnByValue=True)["result"]["value"]  # fmt: skip
        shot = browser.call("Page.captureScreenshot", session, format="png",
                            captureBeyondViewport=True)["data"]  # fmt: skip
    finally:
        browser.close()
    (tmp_path / "report.png").write_bytes(base64.b64decode(shot))
    screenshot = Image.open(tmp_path / "report.png").convert("L")
    assert count == 7 and broken == 0  # 5 plots (FID, KID included), the grid large and small
    assert screenshot.height > 900 and screenshot.getextrema() == (0, 255)  # a page was drawn

    def is_error(e: dict) -> bool:
        p = e.get("params", {})
        return (
            e["method"] in ("Runtime.exceptionThrown", "Network.loadingFailed")
            or (e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"))
            or (e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error")
        )

    assert [e for e in browser.events if is_error(e)] == []
    requests = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e["method"] == "Network.requestWillBeSent"
    ]
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests


def test_report_does_not_import_torch(tiny_run, tmp_path):
    """A report reads files only: no torch import (seconds saved on every report)."""
    code = (
        "import sys; from ganlab.experiments.report import report; "
        f"report({str(tiny_run)!r}, out={str(tmp_path / 'r.html')!r}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
