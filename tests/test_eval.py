"""`ganlab eval` and `train --eval-every`: torch-fidelity's numbers, the weights, the cache, best.

Everything runs offline with a seeded random-weights Inception (the ``inception`` fixture), so
the numbers are not comparable with published ones, only with torch-fidelity's own on the same
images and weights, which is what is tested.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core import inception as inc
from ganlab.core import metrics
from ganlab.core.metrics import formulas, reference
from ganlab.errors import CheckpointError, EvalError
from ganlab.experiments.eval import evaluate
from ganlab.io.checkpoint import prune_checkpoints
from ganlab.io.runspec import read_pointer, resolve_checkpoint_path


def grey_images(n: int, size: int = 16) -> torch.Tensor:
    """(n, 1, size, size) uint8: the first n real digits."""
    from ganlab.data import load_dataset

    return load_dataset("digits", split="all", image_size=size, channels=1).images[:n]


def write_pngs(folder, images: torch.Tensor) -> None:
    """One zero-padded PNG per image, so that sorted names keep the order."""
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        Image.fromarray(img[0].numpy()).save(folder / f"{i:05d}.png")


# --- the numbers are torch-fidelity's ---------------------------------------------------------


def test_scores_equal_torch_fidelity_calculate_metrics(cli, tiny_run, inception, tmp_path):
    """ganlab eval on a run == torch_fidelity.calculate_metrics on the same images, as files."""
    import torch_fidelity

    n, n_real = 48, 64
    real = tmp_path / "real"
    write_pngs(real, grey_images(n_real))
    sampled = tmp_path / "sampled"  # ganlab sample writes seed-<s>.png: rename to sort by seed
    result = cli("sample", tiny_run, "-n", n, "--batch-size", 64, "--out", sampled)
    assert result.exit_code == 0, result.output
    fake = tmp_path / "fake"
    fake.mkdir()
    for s in range(n):
        shutil.copy(sampled / f"seed-{s}.png", fake / f"{s:05d}.png")

    ours = evaluate(
        tiny_run,
        metrics=("fid", "kid", "is", "pr"),
        n=n,
        real_n=None,
        reference=str(real),
        inception_weights=inception.weights,
        use_cache=False,
        batch_size=64,
    )
    theirs = torch_fidelity.calculate_metrics(
        input1=str(fake),
        input2=str(real),
        cuda=False,
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(inception.weights),  # the test's own file
        kid_subset_size=n,
        batch_size=64,
        save_cpu_ram=True,
        cache=False,
        verbose=False,
    )
    got = ours.results[0]
    pairs = {
        "fid": "frechet_inception_distance",
        "kid": "kernel_inception_distance_mean",
        "kid_std": "kernel_inception_distance_std",
        "is": "inception_score_mean",
        "is_std": "inception_score_std",
        "precision": "precision",
        "recall": "recall",
    }
    for ours_key, their_key in pairs.items():
        assert got[ours_key] == pytest.approx(theirs[their_key], rel=1e-4, abs=1e-6), ours_key
    assert got["fid"] > 1  # the sets differ: a vacuous 0 == 0 would prove nothing
    p = ours.protocol
    assert p["generated"]["n"] == n and p["reference"]["n"] == n_real
    assert p["generated"]["channels"] == 1 and "grey replicated" in p["extractor"]["input"]
    assert p["settings"]["kid_subset_size"] == n and p["standard"] is False


def test_fid_is_zero_for_identical_sets_and_grows_with_noise(inception):
    extractor = inc.InceptionExtractor(inc.load_inception_weights(inception.weights))
    x = grey_images(64, size=32).expand(-1, 3, -1, -1)  # (64, 3, 32, 32)
    base = extractor(x)[inc.FEATURES]
    mu, sigma = metrics.fid_statistics(base)
    assert abs(metrics.fid_from_statistics(mu, sigma, mu, sigma)) < 1e-5 * np.trace(sigma)
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x.shape, generator=gen)
    fids = []
    for std in (8, 32, 128):
        noisy = (x.float() + std * noise).clamp(0, 255).round().to(torch.uint8)
        m2, s2 = metrics.fid_statistics(extractor(noisy)[inc.FEATURES])
        fids.append(metrics.fid_from_statistics(m2, s2, mu, sigma))
    assert fids == sorted(fids) and fids[0] > 0, fids


def test_bf16_inception_is_recorded_cached_apart_and_close(tiny_run, inception, tmp_path):
    """--amp bf16: the protocol and a warning say so, its reference features are cached apart
    from the float32 ones (never mixed), and the scores stay near the float32 scores."""
    common = dict(n=32, real_n=64, metrics=("fid", "kid"), inception_weights=inception.weights)
    fp32 = evaluate(tiny_run, **common, amp="off")
    bf16 = evaluate(tiny_run, **common, amp="bf16")
    assert fp32.protocol["extractor"]["precision"] == "off"
    assert not any("ran in" in w for w in fp32.warnings)
    assert bf16.protocol["extractor"]["precision"] == "bf16"
    assert any("ran in bf16" in w and "--amp off" in w for w in bf16.warnings)
    caches = {fp32.protocol["reference"]["cache"], bf16.protocol["reference"]["cache"]}
    assert len(caches) == 2 and not bf16.protocol["reference"]["cached"]
    assert bf16.results[0]["fid"] == pytest.approx(fp32.results[0]["fid"], rel=0.1)
    assert bf16.results[0]["fid"] != fp32.results[0]["fid"]  # it did compute in bf16
    again = evaluate(tiny_run, **common, amp="off")  # the float32 entry is still float32's
    assert again.protocol["reference"]["cached"]
    assert again.results[0]["fid"] == pytest.approx(fp32.results[0]["fid"], rel=1e-6)


def test_precision_recall_on_synthetic_clusters():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(200, 8, generator=gen)
    b = torch.randn(200, 8, generator=gen) + 20
    real = torch.cat([a, b])
    a2 = torch.randn(200, 8, generator=gen)
    b2 = torch.randn(200, 8, generator=gen) + 20

    p, r = metrics.precision_recall(torch.cat([a2, b2]), real)  # the same distribution
    assert p > 0.75 and r > 0.75
    p, r = metrics.precision_recall(a2, real)  # one mode dropped: precise, half the recall
    assert p > 0.75 and 0.35 < r < 0.55
    p, r = metrics.precision_recall(a2 - 40, real)  # elsewhere: neither
    assert p == 0 and r == 0


# --- the reference cache ----------------------------------------------------------------------


@pytest.fixture
def count_reads(monkeypatch):
    """Counts the real images read (through data.batches) and the data sets opened."""
    counts = {"images": 0, "opened": 0}
    real_batches, real_open = reference.batches, reference.open_reference

    def counting_batches(*args, **kwargs):
        for batch in real_batches(*args, **kwargs):
            counts["images"] += batch.size
            yield batch

    def counting_open(ref):
        counts["opened"] += 1
        return real_open(ref)

    monkeypatch.setattr(reference, "batches", counting_batches)
    monkeypatch.setattr(reference, "open_reference", counting_open)
    return counts


def small_eval(run, inception, **kwargs):
    """KID only: the cache is what is tested, and FID's eigenproblem costs seconds."""
    args = dict(n=16, real_n=64, inception_weights=inception.weights, cache_dir=inception.cache)
    return evaluate(run, metrics=("kid",), **{**args, **kwargs})


def test_second_eval_reads_only_the_cache(tiny_run, inception, count_reads):
    first = small_eval(tiny_run, inception)
    assert count_reads == {"images": 64, "opened": 1}
    assert not first.protocol["reference"]["cached"]
    second = small_eval(tiny_run, inception)
    assert count_reads == {"images": 64, "opened": 1}  # nothing read the second time
    ref = second.protocol["reference"]
    assert ref["cached"] and ref["images_read"] == 0 and ref["n"] == 64
    assert second.results == first.results
    assert len(list(inception.cache.glob("*.npz"))) == 1
    small_eval(tiny_run, inception, real_n=32)  # another n is another entry
    assert len(list(inception.cache.glob("*.npz"))) == 2


def test_corrupt_or_foreign_cache_entry_is_recomputed(tiny_run, inception, count_reads):
    first = small_eval(tiny_run, inception)
    (entry,) = inception.cache.glob("*.npz")
    entry.write_bytes(entry.read_bytes()[:1000])  # truncated
    again = small_eval(tiny_run, inception)
    assert count_reads["images"] == 128
    assert any("recomputing" in w for w in again.warnings)
    assert again.results == first.results
    with np.load(entry) as z:  # rewritten whole; now claim another data set
        arrays = dict(z)
    ident = json.loads(str(arrays["identity"]))
    arrays["identity"] = np.array(json.dumps({**ident, "dataset": "cifar10"}, sort_keys=True))
    with open(entry, "wb") as f:
        np.savez(f, **arrays)
    third = small_eval(tiny_run, inception)
    assert count_reads["images"] == 192
    assert any("another reference" in w for w in third.warnings)
    assert third.results == first.results


# --- train --eval-every and the best checkpoint -----------------------------------------------


@pytest.fixture
def evaluated_run(tmp_path, quiet, tiny_config, inception):
    """The tiny run with an evaluation every 14 steps (28 steps), keeping 1 checkpoint."""
    from ganlab.core.train import train

    cfg = tiny_config(
        eval_every=14, eval_n=16, eval_real_n=64, keep=1, inception_weights=str(inception.weights)
    )
    run = tmp_path / "run"
    train(cfg, out=run, reporter=quiet)
    return run


def eval_records(run) -> list[dict]:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "eval"]


def assert_best_is_lowest(run) -> dict:
    records = eval_records(run)
    lowest = min(records, key=lambda r: r["fid"])
    assert read_pointer(run / "checkpoints", "best") == lowest["checkpoint"]
    assert (run / "checkpoints" / lowest["checkpoint"]).is_file()  # never pruned
    assert [r["checkpoint"] for r in records if r["best"]][-1] == lowest["checkpoint"]
    return lowest


def test_eval_every_logs_keeps_best_and_resumes(evaluated_run, tiny_run, quiet, inception):
    from ganlab.core.train import resume_config, train

    run = evaluated_run
    records = eval_records(run)
    assert [r["step"] for r in records] == [14, 28]
    for r in records:
        assert r["n"] == 16 and r["n_real"] == 64 and r["fid"] > 0 and "kid" in r
        assert r["checkpoint"] == f"step-{r['step']:08d}.pt" and r["standard"] is False
    assert_best_is_lowest(run)
    kept = sorted(p.name for p in (run / "checkpoints").glob("step-*.pt"))
    assert len(kept) <= 2  # --keep 1: latest, and best when it is another
    # evaluating does not change training: same weights as the tiny run without it
    with_eval = torch.load(run / "checkpoints" / "step-00000028.pt", weights_only=True)
    without = torch.load(resolve_checkpoint_path(tiny_run), weights_only=True)
    for k, v in without["generator"].items():
        assert torch.equal(with_eval["generator"][k], v), k

    cfg = resume_config(run, {"epochs": 2})
    train(cfg, resume=run, reporter=quiet)
    records = eval_records(run)
    assert [r["step"] for r in records] == [14, 28, 42, 56]
    assert_best_is_lowest(run)  # the pre-resume scores still count


def test_best_checkpoint_is_one_convention_everywhere(cli, evaluated_run, inception, tmp_path):
    run = evaluated_run
    best = read_pointer(run / "checkpoints", "best")
    assert resolve_checkpoint_path(f"{run}:best").name == best
    assert resolve_checkpoint_path(run, "best").name == best
    assert resolve_checkpoint_path(f"{run}:28").name == "step-00000028.pt"
    out_a, out_b = tmp_path / "a.png", tmp_path / "b.png"
    assert cli("sample", f"{run}:best", "-n", 4, "--out", out_a).exit_code == 0
    assert cli("sample", run, "--checkpoint", "best", "-n", 4, "--out", out_b).exit_code == 0
    assert out_a.read_bytes() == out_b.read_bytes()
    clash = cli("sample", f"{run}:best", "--checkpoint", "28", "-n", 4, "--out", out_a)
    assert clash.exit_code == 2 and "different checkpoints" in clash.output
    gone = cli("sample", run, "--checkpoint", "3", "-n", 4, "--out", out_a)
    assert gone.exit_code == 1 and "no checkpoint at step 3" in gone.stderr

    result = cli(
        "eval", run, "--checkpoint", "all", "-n", 16, "--real-num", 64, "--metrics", "fid",
        "--json", "--inception-weights", inception.weights, "--amp", "off",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    kept = sorted(p.name for p in (run / "checkpoints").glob("step-*.pt"))
    assert [os.path.basename(r["checkpoint"]) for r in out["results"]] == kept
    by_name = {os.path.basename(r["checkpoint"]): r for r in out["results"]}
    assert "best" in by_name[best]["pointers"]
    # the same protocol as training used: the same FID as its eval record
    record = {r["checkpoint"]: r for r in eval_records(run)}[best]
    assert by_name[best]["fid"] == pytest.approx(record["fid"], rel=1e-3)
    assert "protocol" in result.stderr and "non-standard" in result.stderr
    assert out["protocol"]["standard"] is False
    assert out["protocol"]["extractor"]["weights_sha256"] == record["weights_sha256"]


def test_pruning_never_deletes_best(tmp_path):
    ckdir = tmp_path / "checkpoints"
    ckdir.mkdir()
    for step in range(1, 6):
        (ckdir / f"step-{step:08d}.pt").write_bytes(b"x")
    (ckdir / "latest").write_text("step-00000005.pt\n")
    (ckdir / "best").write_text("step-00000002.pt\n")
    prune_checkpoints(ckdir, keep=1)
    assert sorted(p.name for p in ckdir.glob("*.pt")) == ["step-00000002.pt", "step-00000005.pt"]


# --- errors: one paragraph, the usual exit codes ----------------------------------------------


def one_paragraph(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("ganlab: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


def test_missing_weights_offline_names_file_url_hash_and_place(
    cli, tiny_run, tiny_config, inception, tmp_path, monkeypatch
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty library cache

    def no_download(*args, **kwargs):
        raise AssertionError("tests must not download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    result = cli("eval", tiny_run, "-n", 16)
    assert result.exit_code == 1
    message = one_paragraph(result.stderr)
    place = tmp_path / "torch-home" / "hub" / "checkpoints" / inc.INCEPTION_FILE
    for part in (inc.INCEPTION_FILE, inc.INCEPTION_URL, inc.INCEPTION_SHA256, str(place)):
        assert part in message
    assert "--inception-weights" in message and "GANLAB_INCEPTION_WEIGHTS" in message

    # train: reported before the first step, nothing made
    out = tmp_path / "run"
    result = cli("train", "digits", "--eval-every", 5, "--max-steps", 10, "--out", out)
    assert result.exit_code == 1 and inc.INCEPTION_URL in one_paragraph(result.stderr)
    assert not out.exists()

    # a file that is not where --inception-weights says
    result = cli("eval", tiny_run, "--inception-weights", tmp_path / "nope.pth")
    assert result.exit_code == 1 and "does not exist" in one_paragraph(result.stderr)


def test_damaged_or_foreign_weights_are_refused(cli, tiny_run, inception, tmp_path):
    data = inception.weights.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 3])
    result = cli("eval", tiny_run, "-n", 16, "--inception-weights", cut)
    assert result.exit_code == 1
    assert "truncated or corrupt" in one_paragraph(result.stderr)
    # a file that is no weights file at all: ganlab's words, not PyTorch's weights_only hint
    text = tmp_path / "notes.pth"
    text.write_text("these are not weights")
    result = cli("eval", tiny_run, "-n", 16, "--inception-weights", text)
    assert result.exit_code == 1 and "cannot read Inception weights" in result.stderr
    assert "weights_only" not in result.stderr and "UserWarning" not in result.stderr

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": Evil()}, evil)
    with pytest.raises(EvalError, match="refused"):
        inc.load_inception_weights(evil)
    assert not marker.exists()

    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    with pytest.raises(EvalError, match="not a plain state dict"):
        inc.load_inception_weights(not_dict)

    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(EvalError, match="does not fit the FID Inception"):
        inc.InceptionExtractor(inc.load_inception_weights(other))


def test_counts_and_never_evaluated_runs(cli, tiny_run, inception, tmp_path):
    result = cli("eval", tiny_run, "-n", 0)
    assert result.exit_code == 2 and "-n" in result.output
    with pytest.raises(EvalError, match="at least 2"):
        evaluate(tiny_run, n=0)
    result = cli("eval", tiny_run, "-n", 5, "--metrics", "fid,is")
    assert result.exit_code == 1 and "too few for IS" in one_paragraph(result.stderr)
    result = cli("eval", tiny_run, "--metrics", "fid,lpips")
    assert result.exit_code == 2 and "choose from" in result.output

    result = cli("eval", tiny_run, "--checkpoint", "best")
    assert result.exit_code == 1
    assert "never evaluated" in one_paragraph(result.stderr)
    result = cli("sample", f"{tiny_run}:best", "--out", tmp_path / "x.png")
    assert result.exit_code == 1 and "--eval-every" in one_paragraph(result.stderr)
    with pytest.raises(CheckpointError, match="never evaluated"):
        resolve_checkpoint_path(tiny_run, "best")


def test_missing_library_names_the_install_command(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_fidelity(name, *args, **kwargs):
        if name == "torch_fidelity" or name.startswith("torch_fidelity."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fidelity)
    with pytest.raises(EvalError, match=r"pip install 'ganlab\[eval\]'"):
        inc.require_torch_fidelity()


# --- the metric registry ----------------------------------------------------------------------


def test_eval_cli_reads_the_metric_registry(cli, tiny_run):
    """--metrics lists every registered metric with its help; a name not in the table is a
    usage error (exit 2) naming the choices, from the command line and from Python alike."""
    import typer

    from ganlab.cli import app

    command = typer.main.get_command(app).commands["eval"]
    option = next(p for p in command.params if p.name == "metrics")
    for m in metrics.METRICS.values():
        assert f"{m.name} ({m.help})" in option.help
    assert option.default == ",".join(metrics.DEFAULT)
    result = cli("eval", "--help")
    assert result.exit_code == 0
    text = " ".join(result.output.replace("\u2502", " ").split())  # unwrapped, no box
    assert all(f"{name} (" in text for name in metrics.METRICS)
    result = cli("eval", tiny_run, "--metrics", "fid,lpips")
    assert result.exit_code == 2
    text = " ".join(result.output.replace("\u2502", " ").split())
    assert "'--metrics': unknown metric lpips: choose from fid, kid, is, pr, nn-error" in text
    with pytest.raises(EvalError, match="unknown metric lpips: choose from fid, kid, is"):
        evaluate(tiny_run, metrics=("fid", "LPIPS"))
    assert metrics.parse_metrics(" FID, kid,fid ") == ("fid", "kid")


def test_every_inception_metric_has_one_scorer_writing_its_keys():
    on_features = [m for m in metrics.METRICS.values() if m.inception]
    assert set(formulas.SCORERS) == {m.name for m in on_features}
    gen = torch.Generator().manual_seed(0)
    fake = {inc.FEATURES: torch.rand(40, 8, generator=gen), inc.LOGITS: torch.rand(40, 5)}
    real = torch.rand(50, 8, generator=gen)
    ref = metrics.ReferenceFeatures(real, *metrics.fid_statistics(real), {"n": 50})
    for m in on_features:
        assert tuple(metrics.score(fake, ref, (m.name,))) == m.keys


def test_the_command_line_reads_the_registry_without_torch():
    import subprocess
    import sys

    code = "import sys, ganlab.cli; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
