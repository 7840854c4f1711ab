"""`ganlab import authors`: the authors' released SVHN model (real files in tests/data) and the
32x32 ImageNet layout (synthetic arrays of the documented shapes, in the real file layout).

The converted nets are checked against an independent NumPy implementation of what the
authors' Theano code computes (true convolution, deconv as its input gradient, batch-statistic
BatchNorm with epsilon 1e-8), not against numbers copied from ganlab's own output.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from ganlab.core.features import feature_dim
from ganlab.core.nets import load_discriminator, load_generator
from ganlab.errors import CheckpointError
from ganlab.experiments.import_authors import import_authors
from ganlab.io.checkpoint import load_checkpoint

DATA = Path(__file__).parent / "data" / "authors-svhn"
SVHN = DATA / "models" / "svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb"
IMAGENET_NAME = "imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z"

# The 32x32 ImageNet model's arrays, from tests/data/authors-svhn/README.md (nz 256, ngf = ndf =
# 128, 3x3 kernels; G deconvs s2, s1, s2, s1, s2 then s1 to RGB; D six convs then dense 8192->1)
IMAGENET_GEN = [
    (256, 8192), (8192,), (8192,),
    (512, 512, 3, 3), (512,), (512,),
    (512, 256, 3, 3), (256,), (256,),
    (256, 256, 3, 3), (256,), (256,),
    (256, 128, 3, 3), (128,), (128,),
    (128, 128, 3, 3), (128,), (128,),
    (128, 3, 3, 3),
]  # fmt: skip
IMAGENET_DISCRIM = [
    (128, 3, 3, 3),
    (128, 128, 3, 3), (128,), (128,),
    (256, 128, 3, 3), (256,), (256,),
    (256, 256, 3, 3), (256,), (256,),
    (512, 256, 3, 3), (512,), (512,),
    (512, 512, 3, 3), (512,), (512,),
    (8192, 1),
]  # fmt: skip


# --- the authors' file layout, written as their joblib wrote it ------------------------------


def jl_index(names: list[str]) -> bytes:
    """A protocol-2 pickle of NDArrayWrapper objects naming `names`, opcode for opcode as the
    authors' old joblib wrote it (checked against their real file below)."""

    def put(i: int) -> bytes:
        return b"q" + bytes([i])

    def string(s: str) -> bytes:
        return b"U" + bytes([len(s)]) + s.encode()

    out = bytearray(b"\x80\x02]" + put(0) + b"(")
    memo = 1
    for k, name in enumerate(names):
        if k == 0:
            out += b"csklearn.externals.joblib.numpy_pickle\nNDArrayWrapper\n" + put(1)
            out += b")\x81" + put(2) + b"}" + put(3) + b"("
            out += string("allow_mmap") + put(4) + b"\x88"
            out += string("subclass") + put(5) + b"cnumpy\nndarray\n" + put(6)
            out += string("filename") + put(7) + string(name) + put(8) + b"ub"
            memo = 9
        else:
            out += b"h\x01)\x81" + put(memo) + b"}" + put(memo + 1) + b"("
            out += b"h\x04\x88h\x05h\x06h\x07" + string(name) + put(memo + 2) + b"ub"
            memo += 3
    return bytes(out + b"e.")


def write_authors_folder(folder: Path, epoch: int, gen: list, discrim: list, seed: int = 0):
    """Write `N_{gen,discrim}_params.jl` and their float32 .npy arrays of the given shapes."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for net, shapes in (("gen", gen), ("discrim", discrim)):
        index = f"{epoch}_{net}_params.jl"
        names = [f"{index}_{i + 1:02d}.npy" for i in range(len(shapes))]
        (folder / index).write_bytes(jl_index(names))
        for name, shape in zip(names, shapes, strict=True):
            scale = (1.0 if len(shape) == 1 else 0.0, 0.02 if len(shape) > 1 else 0.1)
            np.save(folder / name, rng.normal(*scale, size=shape).astype(np.float32))
    return folder


def test_the_index_writer_matches_the_authors_file():
    names = [f"200_gen_params.jl_{i:02d}.npy" for i in range(1, 11)]
    assert jl_index(names) == (SVHN / "200_gen_params.jl").read_bytes()


# --- the authors' Theano code, in NumPy -----------------------------------------------------


def true_conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """dnn_conv in cuDNN's default "conv" mode: x (B, C, H, W), w (F, C, K, K)."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    size = (x.shape[2] + 2 * pad - k) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], size, size))
    for i in range(k):
        for j in range(k):
            patch = xp[:, :, i : i + stride * size : stride, j : j + stride * size : stride]
            out += np.einsum("bchw,fc->bfhw", patch, w[:, :, k - 1 - i, k - 1 - j])
    return out


def deconv(h: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    """lib/ops.deconv: the gradient of `true_conv` w.r.t. its input, output side stride * H.

    h (B, F, H, W) is the conv's output side; w (F, C, K, K) the conv's kernels.
    """
    k, size = w.shape[-1], h.shape[2] * stride
    out = np.zeros((h.shape[0], w.shape[1], size + 2 * pad + k, size + 2 * pad + k))
    for i in range(k):
        for j in range(k):
            tile = np.einsum("bfhw,fc->bchw", h, w[:, :, k - 1 - i, k - 1 - j])
            out[
                :, :, i : i + stride * h.shape[2] : stride, j : j + stride * h.shape[3] : stride
            ] += tile
    return out[:, :, pad : pad + size, pad : pad + size]


def batchnorm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """lib/ops.batchnorm with batch statistics and e=1e-8."""
    axes = (0, 2, 3) if x.ndim == 4 else (0,)
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
    u = x.mean(axis=axes, keepdims=True)
    s = ((x - u) ** 2).mean(axis=axes, keepdims=True)
    return (x - u) / np.sqrt(s + 1e-8) * g.reshape(shape) + b.reshape(shape)


def relu(x):
    return np.maximum(x, 0)


def lrelu(x):
    return np.where(x > 0, x, 0.2 * x)


def svhn_gen(z, w, g, b, w2, g2, b2, w3, g3, b3, wx):
    h = relu(batchnorm(z @ w, g, b)).reshape(len(z), 256, 4, 4)
    h2 = relu(batchnorm(deconv(h, w2, 2, 2), g2, b2))
    h3 = relu(batchnorm(deconv(h2, w3, 2, 2), g3, b3))
    return np.tanh(deconv(h3, wx, 2, 2))


def svhn_discrim(x, w, w2, g2, b2, w3, g3, b3, wy):
    h = lrelu(true_conv(x, w, 2, 2))
    h2 = lrelu(batchnorm(true_conv(h, w2, 2, 2), g2, b2))
    h3 = lrelu(batchnorm(true_conv(h2, w3, 2, 2), g3, b3))
    return 1 / (1 + np.exp(-(h3.reshape(len(x), -1) @ wy)))  # (B, 1)


def svhn_arrays(net: str) -> list[np.ndarray]:
    files = sorted(SVHN.glob(f"200_{net}_params.jl_*.npy"))
    return [np.load(f, allow_pickle=False).astype(np.float64) for f in files]


def test_true_conv_is_scipy_convolution():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 2, 6, 6)), rng.normal(size=(3, 2, 5, 5))
    ours = true_conv(x, w, stride=1, pad=4)  # "full" padding
    for f in range(3):
        ref = sum(convolve2d(x[0, c], w[f, c], mode="full") for c in range(2))
        np.testing.assert_allclose(ours[0, f], ref, atol=1e-10)


def test_deconv_is_the_input_gradient_of_the_conv():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(4, 3, 5, 5))
    h = rng.normal(size=(2, 4, 4, 4))
    # <conv(x), h> = <x, deconv(h)> for a linear map and its adjoint
    np.testing.assert_allclose(
        (true_conv(x, w, 2, 2) * h).sum(), (x * deconv(h, w, 2, 2)).sum(), rtol=1e-10
    )


# --- the real SVHN model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def svhn_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("import") / "authors-svhn"
    import_authors(SVHN, out, bn_batches=1, seed=0)
    return out


def test_svhn_import_records_config_source_and_hashes(svhn_run):
    config = json.loads((svhn_run / "config.json").read_text())
    assert config["config"]["z_dist"] == "normal"
    assert config["config"]["dataset"] == "svhn"
    assert config["model"]["kernel_size"] == 5 and config["model"]["g_dense"]
    assert config["model"]["bn_eps"] == 1e-8
    source = config["source"]
    assert source["epoch"] == 200 and Path(source["folder"]) == SVHN.resolve()
    published = {
        Path(name).name: digest
        for digest, name in (
            line.split() for line in (DATA / "SHA256SUMS").read_text().splitlines()
        )
    }
    assert source["sha256"] == published  # every file, hashed as published
    ckpt = load_checkpoint(svhn_run)
    assert ckpt.epoch == 200 and ckpt.z_dist == "normal"


def test_svhn_weights_hold_the_files_values(svhn_run):
    ckpt = load_checkpoint(svhn_run)
    for net, key in (("gen", "generator"), ("discrim", "discriminator")):
        arrays = svhn_arrays(net)
        params = [
            v
            for k, v in ckpt.state[key].items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
        ]
        assert len(params) == len(arrays)
        for p, a in zip(params, arrays, strict=True):
            assert p.numel() == a.size
            # flips, transposes and reshapes keep the sum and the sum of squares
            assert float(p.double().sum()) == pytest.approx(a.sum(), rel=1e-6, abs=1e-6)
            assert float((p.double() ** 2).sum()) == pytest.approx((a**2).sum(), rel=1e-6)


def test_svhn_nets_compute_what_the_theano_code_computed(svhn_run):
    ckpt = load_checkpoint(svhn_run)
    G, D = load_generator(ckpt).train(), load_discriminator(ckpt).train()  # batch statistics
    z = np.random.default_rng(0).normal(size=(16, 100))
    ref_x = svhn_gen(z, *svhn_arrays("gen"))  # (16, 3, 32, 32)
    with torch.no_grad():
        x = G(torch.from_numpy(z).float())
        p = torch.sigmoid(D(x))
    np.testing.assert_allclose(x.numpy(), ref_x, atol=2e-4)
    ref_p = svhn_discrim(x.double().numpy(), *svhn_arrays("discrim"))[:, 0]
    np.testing.assert_allclose(p.numpy(), ref_p, rtol=1e-3, atol=1e-6)


def test_svhn_d_prefers_g_samples_to_noise(svhn_run):
    ckpt = load_checkpoint(svhn_run)
    G, D = load_generator(ckpt), load_discriminator(ckpt).train()  # D as the authors ran it
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        samples = G(torch.randn(128, 100, generator=gen))
        noise = torch.rand(128, 3, 32, 32, generator=gen) * 2 - 1
        p_samples, p_noise = torch.sigmoid(D(samples)).mean(), torch.sigmoid(D(noise)).mean()
    assert p_samples > 10 * p_noise


def test_g_batchnorm_estimate_is_deterministic_by_seed(svhn_run, tmp_path):
    again = import_authors(SVHN, tmp_path / "again", bn_batches=1, seed=0)
    other = import_authors(SVHN, tmp_path / "other", bn_batches=1, seed=1)
    a = load_checkpoint(svhn_run).state["generator"]
    b = load_checkpoint(again.run_dir).state["generator"]
    c = load_checkpoint(other.run_dir).state["generator"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["main.2.running_mean"], c["main.2.running_mean"])
    assert torch.equal(a["main.1.weight"], c["main.1.weight"])  # weights are the files'


def test_cli_import_then_sample_sorted_by_d_score_and_probe(cli, svhn_run, tmp_path):
    out = tmp_path / "run"
    r = cli("import", "authors", str(SVHN), "--out", str(out), "--bn-batches", "1", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["model"] == "svhn"
    r = cli(
        "sample",
        str(out),
        "-n",
        "16",
        "--sort-by",
        "d-score",
        "--out",
        str(tmp_path / "s.png"),
        "--json",
    )
    assert r.exit_code == 0, r.output
    scores = json.loads(r.stdout)["d_scores"]
    assert sorted(s["seed"] for s in scores) == list(range(16))
    values = [s["d_score"] for s in scores]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1
    feats = tmp_path / "f.h5"
    r = cli(
        "probe",
        "digits",
        "-c",
        str(out),
        "--features",
        str(feats),
        "--extract-only",
        "--bn-stats",
        "running",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["feature_dim"] == 1024 + 2048 + 4096  # the authors' 7168
    walk = tmp_path / "walk.png"
    r = cli("interpolate", str(out), "--seeds", "0,1", "--steps", "3", "--out", str(walk))
    assert r.exit_code == 0 and walk.is_file(), r.output


def test_imported_run_cannot_be_resumed(cli, svhn_run):
    r = cli("train", "--resume", str(svhn_run), "--max-steps", "1")
    assert r.exit_code == 1 and "imported" in r.output


# --- the 32x32 ImageNet layout ----------------------------------------------------------------


def test_imagenet_layout_converts_to_imagenet32(tmp_path):
    folder = write_authors_folder(tmp_path / IMAGENET_NAME, 30, IMAGENET_GEN, IMAGENET_DISCRIM)
    result = import_authors(folder, tmp_path / "run", bn_batches=1)
    assert result.model == "imagenet32" and result.epoch == 30
    ckpt = load_checkpoint(result.run_dir)
    mc = ckpt.model_config
    assert (mc.arch, mc.nz, mc.ngf, mc.ndf, mc.g_dense) == ("imagenet32", 256, 128, 128, True)
    assert ckpt.z_dist == "uniform"
    assert feature_dim(load_discriminator(ckpt)) == 28672
    wy = np.load(folder / "30_discrim_params.jl_17.npy")
    np.testing.assert_array_equal(
        ckpt.state["discriminator"]["head.weight"].numpy().ravel(), wy[:, 0]
    )
    w = np.load(folder / "30_gen_params.jl_01.npy")
    np.testing.assert_array_equal(ckpt.state["generator"]["main.1.weight"].numpy(), w.T)
    wx = np.load(folder / "30_gen_params.jl_19.npy")
    np.testing.assert_array_equal(
        ckpt.state["generator"]["main.20.weight"].numpy(), wx[:, :, ::-1, ::-1]
    )


# --- refusals ---------------------------------------------------------------------------------


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_code_executing_index_is_refused_and_nothing_runs(cli, tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(SVHN, folder)
    marker = tmp_path / "marker"
    (folder / "200_gen_params.jl").write_bytes(pickle.dumps([_Exploit(marker)], protocol=2))
    r = cli("import", "authors", str(folder), "--out", str(tmp_path / "run"))
    assert r.exit_code == 1 and "refused" in r.output
    assert not marker.exists()
    assert not (tmp_path / "run").exists()


def test_reduce_with_an_allowed_global_is_refused(tmp_path):
    folder = tmp_path / "evil"
    shutil.copytree(SVHN, folder)
    # numpy.ndarray called through REDUCE: an allowed class, but a call
    data = b"\x80\x02cnumpy\nndarray\nK\x01\x85R."  # ndarray(1)
    (folder / "200_discrim_params.jl").write_bytes(data)
    with pytest.raises(CheckpointError, match="REDUCE"):
        import_authors(folder, tmp_path / "run")


def test_index_naming_a_file_elsewhere_is_refused(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(SVHN, folder)
    names = [f"200_gen_params.jl_{i:02d}.npy" for i in range(1, 11)]
    names[3] = "../200_gen_params.jl_04.npy"
    (folder / "200_gen_params.jl").write_bytes(jl_index(names))
    with pytest.raises(CheckpointError, match="own folder"):
        import_authors(folder, tmp_path / "run")


def test_missing_array_names_the_file_and_shape(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(SVHN, folder)
    (folder / "200_gen_params.jl_04.npy").unlink()
    with pytest.raises(
        CheckpointError, match=r"200_gen_params\.jl_04\.npy is missing.*\(256, 128, 5, 5\)"
    ):
        import_authors(folder, tmp_path / "run")


def test_misshaped_array_names_the_file_and_shape(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(SVHN, folder)
    np.save(folder / "200_discrim_params.jl_08.npy", np.zeros((4096,), np.float32))
    with pytest.raises(
        CheckpointError,
        match=r"200_discrim_params\.jl_08\.npy holds float32 \(4096,\).*\(4096, 1\)",
    ):
        import_authors(folder, tmp_path / "run")


def test_pickled_array_is_refused(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(SVHN, folder)
    np.save(
        folder / "200_gen_params.jl_02.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True
    )
    with pytest.raises(CheckpointError, match="200_gen_params.jl_02.npy"):
        import_authors(folder, tmp_path / "run")


def test_unknown_layout_is_refused(tmp_path):
    folder = write_authors_folder(tmp_path / "m", 5, [(100, 4096)], [(4096, 1)])
    with pytest.raises(CheckpointError, match="neither of the authors' released models"):
        import_authors(folder, tmp_path / "run")


def test_old_model_configs_load_with_the_old_layers():
    from ganlab.core.models import ModelConfig, build_models

    cfg = ModelConfig(
        **{"image_size": 32, "channels": 1, "nz": 8, "ngf": 4, "ndf": 4, "arch": "dcgan"}
    )
    assert (cfg.kernel_size, cfg.g_dense, cfg.bn_eps) == (None, False, 1e-5)
    G, D = build_models(cfg)
    conv = D.blocks[0][0]
    assert (conv.kernel_size, conv.padding) == ((4, 4), (1, 1))
    assert G.main[1].eps == 1e-5 and isinstance(G.main[0], torch.nn.ConvTranspose2d)


def test_imported_config_is_its_own_recipe(svhn_run):
    from ganlab.core.config import TrainConfig

    config = json.loads((svhn_run / "config.json").read_text())
    rebuilt = TrainConfig.from_dict(config["config"]).model_config(32, 3)
    assert rebuilt.to_dict() == config["model"] == load_checkpoint(svhn_run).model_config.to_dict()


def test_train_options_build_the_authors_layers(cli):
    from ganlab.core.config import TrainConfig
    from ganlab.core.models import build_models

    cfg = TrainConfig(kernel_size=5, g_dense=True, bn_eps=1e-8, ngf=4, ndf=4)
    G, D = build_models(cfg.model_config(32, 3))
    assert isinstance(G.main[1], torch.nn.Linear) and G.main[2].eps == 1e-8
    assert D.blocks[0][0].kernel_size == (5, 5) and D.blocks[0][0].padding == (2, 2)
    assert G(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    r = cli("train", "digits", "--arch", "imagenet32", "--kernel-size", "5", "--out", "x")
    assert r.exit_code == 1 and "--kernel-size 5 does not fit --arch imagenet32" in r.output


def test_epoch_grid_is_what_sample_renders(svhn_run, tmp_path):
    from ganlab.experiments.sample import sample

    sample(svhn_run, list(range(64)), str(tmp_path / "g.png"))
    grid = svhn_run / "samples" / "epoch-0200.png"
    assert (tmp_path / "g.png").read_bytes() == grid.read_bytes()


def test_non_empty_out_is_refused_before_any_work(svhn_run):
    with pytest.raises(CheckpointError, match="not empty"):
        import_authors(SVHN, svhn_run)


def test_eval_scores_an_imported_run(cli, svhn_run, inception, tmp_path):
    """`eval` works on an imported run like on a trained one (a folder reference here)."""
    from PIL import Image

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for i in range(16):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(real / f"{i:02d}.png")
    r = cli(
        "eval", str(svhn_run), "-n", "16", "--reference", str(real), "--metrics", "fid",
        "--inception-weights", str(inception.weights), "--amp", "off", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["protocol"]["generated"]["channels"] == 3 and out["protocol"]["reference"]["n"] == 16
    assert np.isfinite(out["results"][0]["fid"]) and out["results"][0]["fid"] > 0
