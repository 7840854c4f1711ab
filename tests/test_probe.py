"""`ganlab probe`: extraction into the store, reuse and refusal, resume, protocols, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.experiments.probe import ProbeConfig, probe
from ganlab.experiments.probe import features as probe_features
from ganlab.experiments.probe.protocols import balanced_draw, stratified_holdout
from ganlab.io.featstore import FeatureFile

FAST = ("--device", "cpu", "--quiet", "--C", "1e-3,1e-2")


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # read only: features go to their own files


@pytest.fixture(scope="module")
def feats(run, tmp_path_factory):
    """A features file of the tiny run on the digits (train 1437, test 360, 384 dims)."""
    path = tmp_path_factory.mktemp("feats") / "digits.h5"
    probe(
        ProbeConfig(
            dataset="digits",
            checkpoint=str(run),
            features=str(path),
            extract_only=True,
            device="cpu",
            batch_size=256,
        )
    )
    return path


def test_cli_probe_reports_json_and_reuses_the_file(cli, run, feats, tmp_path):
    path = tmp_path / "f.h5"
    result = cli("probe", "digits", "-c", run, "--features", path, "--json", *FAST)
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)  # stdout holds the JSON object and nothing else
    assert r["feature_dim"] == (8 + 16) * 16 and r["layers"] == [0, 1]
    assert r["n_test"] == 360 and r["n_train"] + r["n_val"] == 1437
    assert r["protocol"]["name"] == "cifar10" and r["C"] in (1e-3, 1e-2)
    assert r["test_accuracy"] > 0.6 and r["bn_stats"] == "recompute"
    assert set(r["val_accuracy"]) == {"0.001", "0.01"} and r["fit_s"] > 0
    *sweep, last = r["c_search"]  # the C search's path: time and iterations per C
    first, second = sweep[:2]
    assert (first["C"], second["C"]) == (1e-3, 1e-2) and not first["warm_start"]
    assert first["tol"] == second["tol"] == 1e-3 and not first["refined"]
    # the chosen C is refined to the full tolerance (and any C as good within 0.1 pp)
    refined = [s for s in r["c_search"] if s["refined"]]
    assert refined and refined == r["c_search"][2:] and last["tol"] == 1e-4
    assert r["C"] in [s["C"] for s in refined] and all(s["warm_start"] for s in refined)
    assert r["val_accuracy"][f"{last['C']:g}"] == last["val_accuracy"]
    assert all(
        s["fit_s"] > 0 and s["newton_steps"] >= 1 and not s["skipped"] for s in (first, second)
    )
    for s in (first, second):  # where the CG steps went: one count per Newton step
        assert len(s["cg_per_newton"]) == s["newton_steps"]
        assert sum(s["cg_per_newton"]) == s["cg_steps"]
        # and how many classes took an exact step instead (woodbury), of the 10
        assert len(s["direct_per_newton"]) == s["newton_steps"]
        assert all(0 <= d <= 10 for d in s["direct_per_newton"])
    assert r["refit"]["rows"] == 1437 and r["refit"]["C"] == r["C"] and r["refit"]["cg_steps"] >= 0
    again = cli("probe", "digits", "-c", run, "--features", path, "--json", *FAST)
    r2 = json.loads(again.stdout)
    assert r2["features_reused"] and r2["test_accuracy"] == r["test_accuracy"]
    with FeatureFile(path) as a, FeatureFile(feats) as b:  # same request, same features
        assert torch.allclose(a.load("test"), b.load("test"), atol=1e-5)  # other batch size
        assert a.attrs["checkpoint_sha256"] == b.attrs["checkpoint_sha256"]


def test_mismatching_features_file_is_refused(cli, run, feats):
    result = cli(
        "probe",
        "digits",
        "-c",
        run,
        "--features",
        feats,
        "--grid",
        "2",
        "--bn-stats",
        "running",
        *FAST,
    )
    assert result.exit_code == 1
    assert "holds different features: grid 4 (asked for 2); bn_stats" in result.stderr
    assert "Traceback" not in result.output
    alone = cli("probe", "--features", feats, "--layers", "1", *FAST)
    assert alone.exit_code == 1 and "layers [0, 1] (asked for [1])" in alone.stderr


def test_fit_from_features_file_alone_with_sklearn(cli, feats):
    result = cli("probe", "--features", feats, "--json", "--solver", "sklearn", *FAST)
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["dataset"] == "digits" and r["solver"] == "sklearn" and r["extract_s"] == 0
    ours = json.loads(cli("probe", "--features", feats, "--json", *FAST).stdout)
    assert abs(ours["test_accuracy"] - r["test_accuracy"]) <= 0.01
    logreg = cli("probe", "--features", feats, "--json", "--classifier", "logreg", *FAST)
    assert json.loads(logreg.stdout)["classifier"] == "logreg"


def test_layers_grid_bn_and_random_init_change_the_features(run, feats, tmp_path):
    def extract(name, **kw):
        path = tmp_path / f"{name}.h5"
        probe(
            ProbeConfig(
                dataset="digits",
                checkpoint=str(run),
                features=str(path),
                extract_only=True,
                device="cpu",
                batch_size=256,
                **kw,
            )
        )
        f = FeatureFile(path)
        X = f.load("test")
        f.close()
        return X

    with FeatureFile(feats) as f:
        base = f.load("test")  # layers 0,1 at 4x4, BatchNorm recomputed
    last = extract("last", layers=(1,))
    assert torch.equal(last, base[:, 8 * 16 :])
    coarse = extract("grid1", grid=1)
    assert torch.equal(coarse[:, :8], base[:, : 8 * 16].view(-1, 8, 16).amax(2))
    running = extract("running", bn_stats="running")
    assert torch.equal(running[:, : 8 * 16], base[:, : 8 * 16])  # layer 0 has no BatchNorm
    assert not torch.allclose(running[:, 8 * 16 :], base[:, 8 * 16 :], atol=1e-3)
    rand = extract("random", random_init=True)
    assert rand.shape == base.shape and not torch.allclose(rand, base, atol=1e-3)
    with FeatureFile(tmp_path / "random.h5") as f:
        assert f.attrs["source"] == "random-init" and f.attrs["init_seed"] == 0


def test_interrupted_extraction_resumes(run, feats, tmp_path, monkeypatch):
    path = tmp_path / "f.h5"
    cfg = ProbeConfig(
        dataset="digits",
        checkpoint=str(run),
        features=str(path),
        extract_only=True,
        device="cpu",
        batch_size=256,
    )
    real, calls = probe_features.extract_features, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:  # train has 6 batches of 256: die in the test split
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(probe_features, "extract_features", dying)
    with pytest.raises(KeyboardInterrupt):
        probe(cfg)
    assert not path.exists() and (tmp_path / ".f.h5.partial").exists()
    monkeypatch.setattr(probe_features, "extract_features", real)
    probe(cfg)
    with FeatureFile(path) as a, FeatureFile(feats) as b:
        for split in ("train", "test"):
            assert torch.equal(a.load(split), b.load(split))
            assert torch.equal(a.labels(split), b.labels(split))


def test_svhn_draws_are_class_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 50)[np.random.default_rng(0).permutation(500)]
    a = balanced_draw(labels, 7, [3, 1, 0])
    assert np.bincount(labels[a], minlength=10).tolist() == [7] * 10
    assert len(set(a.tolist())) == 70
    assert np.array_equal(a, balanced_draw(labels, 7, [3, 1, 0]))
    assert not np.array_equal(a, balanced_draw(labels, 7, [3, 1, 1]))
    held, rest = stratified_holdout(labels, 100, [0, 0])
    assert np.bincount(labels[held]).tolist() == [10] * 10
    assert len(np.intersect1d(held, rest)) == 0 and len(held) + len(rest) == 500


def test_svhn_protocol_on_stored_features(feats):
    cfg = ProbeConfig(
        features=str(feats),
        protocol="svhn",
        val_size=300,
        train_per_class=20,
        draws=4,
        select_draws=2,
        Cs=(1e-3, 1e-2),
        device="cpu",
    )
    r = probe(cfg)
    assert r.protocol["name"] == "svhn" and r.protocol["labels_per_draw"] == 200
    assert r.n_train == 200 and r.n_val == 300 and r.n_test == 360
    assert 0 < r.test_error < 0.5 and r.test_error_ci95 is not None
    assert r.test_accuracy == pytest.approx(1 - r.test_error)
    assert probe(cfg).test_error == r.test_error  # reproducible by seed


def test_paper_probe_architecture_through_the_cli(cli, tiny_config, tmp_path):
    """imagenet32 (ndf 128) gives 28672 features; a folder of class subfolders is labelled."""
    from ganlab.core.models import ModelConfig, build_models
    from ganlab.io.checkpoint import save_checkpoint, write_latest

    mc = ModelConfig(image_size=32, channels=3, nz=256, ngf=128, ndf=128, arch="imagenet32")
    G, D = build_models(mc)
    ckdir = tmp_path / "run" / "checkpoints"
    save_checkpoint(
        ckdir / "step-00000000.pt",
        {
            "config": tiny_config(dataset="folder", image_size=32, channels=3).to_dict(),
            "model_config": mc.to_dict(),
            "step": 0,
            "generator": G.state_dict(),
            "discriminator": D.state_dict(),
        },
    )
    write_latest(ckdir, "step-00000000.pt")
    for c, colour in enumerate([(200, 30, 30), (30, 30, 200)]):
        (tmp_path / "pics" / f"class{c}").mkdir(parents=True)
        for i in range(5):
            shade = tuple(max(0, v - 20 * i) for v in colour)
            Image.new("RGB", (40, 40), shade).save(tmp_path / "pics" / f"class{c}" / f"{i}.png")
    result = cli(
        "probe",
        "-c",
        tmp_path / "run",
        "--data-root",
        tmp_path / "pics",
        "--features",
        tmp_path / "f.h5",
        "--workers",
        "0",
        "--json",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["dataset"] == "folder" and r["feature_dim"] == 28672
    assert r["n_test"] == 2 and r["protocol"]["test_split"] == "held out 20% of train"
    with FeatureFile(tmp_path / "f.h5") as f:
        assert f.h5["train/features"].shape == (10, 28672) and f.splits == ["train"]


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        (["digits"], 2, "--checkpoint"),
        (["--random-init"], 1, "takes the paper's D for the dataset: name it"),
        (["digits", "-c", "RUN", "--layers", "5"], 1, "--layers 5 out of range"),
        (["digits", "-c", "RUN", "--layers", "x"], 2, "layer numbers"),
        (["digits", "-c", "RUN", "--C", "0,1"], 2, "positive"),
        (["digits", "-c", "RUN", "--extract-only"], 2, "--features"),
        (["lsun", "-c", "RUN"], 1, "no class labels"),
        (["--features", "MISSING"], 1, "does not exist"),
        (["--features", "CORRUPT"], 1, "truncated or corrupt"),
        (["imagenet9", "-c", "RUN"], 2, "unknown dataset"),
    ],
)
def test_cli_errors(cli, run, tmp_path, args, code, fragment):
    (tmp_path / "bad.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 50)
    subs = {
        "RUN": str(run),
        "MISSING": str(tmp_path / "no.h5"),
        "CORRUPT": str(tmp_path / "bad.h5"),
    }
    result = cli("probe", *[subs.get(a, a) for a in args], "--device", "cpu")
    assert result.exit_code == code, result.output
    assert fragment in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.output


def test_random_init_alone_takes_the_papers_d(cli, run, tmp_path):
    """`probe digits --random-init` needs no run: ganlab's default D for the digits, recorded."""
    path = tmp_path / "random.h5"
    result = cli("probe", "digits", "--random-init", "--features", path, "--json", *FAST)
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["random_init"] and r["checkpoint_sha256"] == "none"
    assert r["d_shape"] == "dcgan, ganlab's default for digits (32 px, 1 channel, ndf 64)"
    mc = r["model_config"]
    assert (mc["arch"], mc["image_size"], mc["channels"], mc["ndf"]) == ("dcgan", 32, 1, 64)
    assert r["feature_dim"] == (64 + 128 + 256) * 16 and r["test_accuracy"] > 0.8
    with FeatureFile(path) as f:
        assert f.attrs["d_shape"] == r["d_shape"] and f.attrs["model_config"] == mc
    shown = cli("probe", "digits", "--random-init", "--features", path, "--C", "1e-3")
    assert "D shape" in shown.stderr and "ganlab's default for digits" in shown.stderr
    assert "reusing features" in shown.stderr
    other = cli("probe", "digits", "-c", run, "--random-init", "--features", path, *FAST)
    assert other.exit_code == 1 and "checkpoint_sha256 none" in other.stderr


def test_papers_d_by_dataset():
    """Table 1's D for cifar10 and imagenet, the authors' SVHN D for svhn (the imported shapes)."""
    from ganlab.core.features import feature_dim, random_discriminator
    from ganlab.experiments.import_authors import AUTHORS_MODELS
    from ganlab.modelconfig import AUTHORS_SHAPES

    assert {m.name: m.model for m in AUTHORS_MODELS} == AUTHORS_SHAPES
    for dataset in ("cifar10", "imagenet"):
        mc, shape = probe_features.paper_shape(dataset)
        assert mc == AUTHORS_SHAPES["imagenet32"] and shape.startswith(
            "imagenet32, the paper's Table 1 D"
        )
        assert feature_dim(random_discriminator(mc)) == 28672
    mc, shape = probe_features.paper_shape("svhn")
    assert (mc.kernel_size, mc.g_dense, mc.bn_eps, mc.ndf) == (5, True, 1e-8, 64)
    assert shape == "svhn, the paper's Table 2 D (32 px, 3 channels, ndf 64, kernel 5)"
    assert feature_dim(random_discriminator(mc)) == 7168
    mc, _ = probe_features.paper_shape("fashion-mnist")
    assert (mc.arch, mc.image_size, mc.channels, mc.kernel_size) == ("dcgan", 32, 1, None)


def test_feature_scale_is_taken_over_the_given_rows(feats):
    from ganlab.experiments.probe.stats import train_stats

    with FeatureFile(feats) as ff:
        n = ff.rows("train")
        for rows in (np.arange(0, n, 3), np.arange(n)):  # some rows; all (no row mask)
            X = ff.load("train", torch.from_numpy(rows)).double()
            mean, std = train_stats(ff, rows, per_feature=False)
            assert torch.equal(mean, torch.zeros(ff.feature_dim))
            assert torch.allclose(std.double(), X.pow(2).mean().sqrt(), rtol=1e-6)
            mean, std = train_stats(ff, rows, per_feature=True)
            assert torch.allclose(mean.double(), X.mean(0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("standardize", [False, True])
def test_pool_scaled_in_memory_equals_the_streamed_statistics(feats, standardize):
    """load_pool takes the statistics from its copy (one read): the same X as two reads."""
    from ganlab.experiments.probe.protocols import load_pool, make_splits
    from ganlab.progress import Reporter

    cfg = ProbeConfig(features=str(feats), standardize=standardize)
    with FeatureFile(feats) as ff:
        streamed = make_splits(ff, cfg, "cifar10", Reporter(quiet=True))
        deferred = make_splits(ff, cfg, "cifar10", Reporter(quiet=True), stats=False)
        assert deferred.mean is None and np.array_equal(deferred.rest, streamed.rest)
        X1, y1, s1 = load_pool(streamed, torch.device("cpu"), standardize)
        X2, y2, s2 = load_pool(deferred, torch.device("cpu"), standardize)
    assert s1 is streamed and torch.equal(y1, y2)
    assert torch.allclose(s2.mean, streamed.mean, rtol=1e-5, atol=1e-6)
    assert torch.allclose(s2.std, streamed.std, rtol=1e-5)
    assert torch.allclose(X1, X2, rtol=1e-4, atol=1e-5)
    if standardize:  # scaled: each feature centred, or the whole at RMS 1
        assert X2.double().mean(0).abs().max() < 1e-4
    else:
        assert abs(X2.double().pow(2).mean().sqrt().item() - 1) < 1e-5
