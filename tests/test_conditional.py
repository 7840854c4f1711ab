"""Class-conditional DCGAN (the paper's appendix MNIST model) and its nn-error metric."""

import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.generate import class_grid, generate, resolve_class
from ganlab.core.metrics.nnerror import NNErrorEval, nearest_labels, nn_error
from ganlab.core.models import NO_CLASS, Discriminator, Generator, ModelConfig
from ganlab.core.nets import load_generator
from ganlab.core.seeds import z_from_seeds
from ganlab.core.train import resume_config, train
from ganlab.errors import EvalError, GanlabError
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.rundir import RunDir

STEPS_PER_EPOCH = 1797 // 64  # digits "all", batch 64
TILE = 16 + 2  # a 16 px tile and make_grid's 2 px padding


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory, tiny_config):
    """One tiny conditional digits run (one epoch), shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("cond") / "run"
    train(tiny_config(conditional=True), out=out)
    return out


def weights(run_dir) -> dict:
    ckpt = load_checkpoint(run_dir)
    return {
        **{f"G.{k}": v for k, v in ckpt.state["generator"].items()},
        **{f"D.{k}": v for k, v in ckpt.state["discriminator"].items()},
    }


# --- the model ---------------------------------------------------------------------------------


def test_unconditional_nets_keep_their_state_dict():
    """num_classes 0 (the default, and every older checkpoint) builds the same layers; K > 0
    only widens the inputs of each conv by K (the one-hot maps)."""
    plain = ModelConfig(image_size=32, channels=1, nz=16, ngf=8, ndf=8)
    cond = ModelConfig(image_size=32, channels=1, nz=16, ngf=8, ndf=8, num_classes=10)
    assert ModelConfig(**{k: v for k, v in plain.to_dict().items() if k != "num_classes"}) == plain
    for net in (Generator, Discriminator):
        a, b = net(plain).state_dict(), net(cond).state_dict()
        assert a.keys() == b.keys()
        for k in a:
            if a[k].dim() == 4:  # conv weights: the input-channel axis grows by K
                axis = 0 if net is Generator else 1  # ConvTranspose2d is (in, out, k, k)
                widened = list(a[k].shape)
                widened[axis] += 10
                assert list(b[k].shape) == widened, k
            else:
                assert a[k].shape == b[k].shape, k


def test_conditional_net_needs_labels_and_no_class_zeroes_them():
    cfg = ModelConfig(image_size=16, channels=1, nz=8, ngf=4, ndf=4, num_classes=3)
    torch.manual_seed(0)
    G, D = Generator(cfg).eval(), Discriminator(cfg).eval()
    z = torch.rand(2, 8) * 2 - 1
    with pytest.raises(GanlabError, match="class-conditional"):
        G(z)
    x = G(z, torch.tensor([0, 2]))
    assert x.shape == (2, 1, 16, 16)
    none = D(x, torch.full((2,), NO_CLASS))
    assert none.shape == (2,) and not torch.equal(none, D(x, torch.tensor([0, 2])))


# --- training ------------------------------------------------------------------------------------


def test_conditional_run_records_its_classes(cond_run):
    config = RunDir(cond_run).read_config()
    assert config["config"]["conditional"] is True
    assert config["model"]["num_classes"] == 10
    assert config["classes"] == [str(d) for d in range(10)]
    ckpt = load_checkpoint(cond_run)
    assert ckpt.class_names == [str(d) for d in range(10)]
    # the epoch grid has one row per class: 16 grid seeds over 10 classes -> one column
    grid = Image.open(cond_run / "samples" / "epoch-0001.png")
    assert grid.size == (TILE + 2, 10 * TILE + 2)


def test_conditional_resume_is_exact(tmp_path, quiet, tiny_config):
    cfg = tiny_config(conditional=True, max_steps=40, epochs=2)
    train(cfg, out=tmp_path / "straight", reporter=quiet)
    train(cfg.replace(max_steps=11), out=tmp_path / "resumed", reporter=quiet)
    resumed = resume_config(tmp_path / "resumed", {"max_steps": 40})
    assert resumed.conditional
    assert train(resumed, resume=tmp_path / "resumed", reporter=quiet).step == 40
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # and it is not the unconditional run
    with pytest.raises(GanlabError, match="conditional"):
        resume_config(tmp_path / "resumed", {"conditional": False})


def test_conditional_needs_class_labels(tmp_path, quiet, tiny_config, dataset_files):
    root = dataset_files.write_folder(tmp_path / "flat", n=70, corrupt=0)
    cfg = tiny_config(dataset="folder", data_root=str(root), split="train", conditional=True)
    with pytest.raises(GanlabError, match="--conditional needs a labelled dataset"):
        train(cfg, out=tmp_path / "run", reporter=quiet)
    assert not (tmp_path / "run").exists()


def test_conditional_folder_of_class_subfolders(tmp_path, quiet, tiny_config, dataset_files):
    root = dataset_files.write_folder(tmp_path / "classes", n=40, classes=("cat", "dog"), corrupt=0)
    cfg = tiny_config(
        dataset="folder", data_root=str(root), split="train", conditional=True, max_steps=2
    )
    train(cfg, out=tmp_path / "run", reporter=quiet)
    assert load_checkpoint(tmp_path / "run").class_names == ["cat", "dog"]


# --- sampling a class ----------------------------------------------------------------------------


def test_class_changes_only_the_label(cond_run):
    ckpt = load_checkpoint(cond_run)
    z = z_from_seeds([0, 1, 2], ckpt.model_config.nz, ckpt.z_dist)
    threes = generate(ckpt, z, labels=3)
    assert torch.equal(threes, generate(ckpt, z, labels=torch.tensor([3, 3, 3])))
    fives = generate(ckpt, z, labels=5)
    assert not torch.equal(threes, fives)
    # each image depends on its own (z, class) only: rendered alone it is the same
    mixed = generate(ckpt, z, labels=torch.tensor([3, 5, 3]))
    assert torch.equal(mixed[0], threes[0]) and torch.equal(mixed[1], fives[1])
    with pytest.raises(GanlabError, match="--class"):
        generate(ckpt, z)


def test_sample_class_by_name_or_index(cli, cond_run, tmp_path):
    a = cli("sample", cond_run, "--class", "3", "--seeds", "0-3", "--out", "-")
    b = cli("sample", cond_run, "--class", "3", "--seeds", "0-3", "--out", "-")
    c = cli("sample", cond_run, "--class", "4", "--seeds", "0-3", "--out", "-")
    assert a.exit_code == b.exit_code == c.exit_code == 0
    assert a.stdout_bytes == b.stdout_bytes != c.stdout_bytes
    ckpt = load_checkpoint(cond_run)
    assert resolve_class(ckpt, "7") == 7 and resolve_class(ckpt, None) is None


def test_unknown_class_lists_the_classes(cli, cond_run, tiny_run):
    bad = cli("sample", cond_run, "--class", "shirt", "--out", "-")
    assert bad.exit_code == 1
    assert "no such class" in bad.stderr and "0: 0, 1: 1" in bad.stderr
    assert "Traceback" not in bad.stderr
    plain = cli("sample", tiny_run, "--class", "3", "--out", "-")
    assert plain.exit_code == 1 and "not class-conditional" in plain.stderr


def test_conditional_grid_has_one_row_per_class(cli, cond_run, tmp_path):
    assert class_grid([5, 6, 7], 0) == ([5, 6, 7], None)
    seeds, labels = class_grid(list(range(30)), 10)
    assert seeds == [0, 1, 2] * 10 and labels.tolist() == [c for c in range(10) for _ in range(3)]
    out = tmp_path / "grid.png"
    result = cli("sample", cond_run, "-n", "30", "--out", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 30
    grid = np.asarray(Image.open(out).convert("L"))
    assert grid.shape == (10 * TILE + 2, 3 * TILE + 2)
    # row c is `--class c` of seeds 0-2
    for c in (0, 7):
        row = Image.open(io.BytesIO(cli("sample", cond_run, "--class", c, "--seeds", "0-2",
                                         "--nrow", "3", "--out", "-").stdout_bytes))  # fmt: skip
        top = 2 + c * TILE
        assert np.array_equal(np.asarray(row.convert("L"))[2:-2], grid[top : top + 16])


def test_latent_commands_hold_the_class(cli, cond_run, tmp_path):
    walk = cli("interpolate", cond_run, "--class", "2", "--rows", "1", "--points", "2",
               "--steps", "1", "--out", tmp_path / "w.png")  # fmt: skip
    assert walk.exit_code == 0, walk.stderr
    missing = cli("interpolate", cond_run, "--rows", "1", "--out", tmp_path / "x.png")
    assert missing.exit_code == 1 and "--class" in missing.stderr
    assert not (tmp_path / "x.png").exists()
    proj = cli("project", cond_run, "digits", "-n", "2", "--steps", "1", "--restarts", "2",
               "--class", "1", "--out", tmp_path / "z.h5", "--json")  # fmt: skip
    assert proj.exit_code == 0, proj.stderr


# --- nn-error ------------------------------------------------------------------------------------


def test_nn_error_of_identical_sets_is_zero_and_of_shuffled_labels_near_chance():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(600, 64, generator=gen)
    y = torch.arange(600) % 10
    chunks = [(x[i : i + 128], y[i : i + 128]) for i in range(0, 600, 128)]
    same = nn_error(chunks, x, y, query_chunk=100)
    assert same.error == 0.0 and same.gallery_n == 600 and same.test_n == 600
    shuffled = y[torch.randperm(600, generator=gen)]
    chance = nn_error([(x, shuffled)], x, y, query_chunk=256)
    assert 0.8 < chance.error < 0.97  # 1 - 1/10 = 0.9


def test_nearest_labels_streamed_equals_brute_force():
    gen = torch.Generator().manual_seed(1)
    gallery, queries = torch.rand(300, 20, generator=gen), torch.rand(70, 20, generator=gen)
    labels = torch.randint(0, 5, (300,), generator=gen)
    truth = labels[torch.cdist(queries.double(), gallery.double()).argmin(1)]
    chunks = [(gallery[i : i + 37], labels[i : i + 37]) for i in range(0, 300, 37)]
    predicted, seen = nearest_labels(chunks, queries, query_chunk=16)
    assert seen == 300 and torch.equal(predicted, truth)


def test_eval_nn_error_on_a_conditional_run(cli, cond_run):
    result = cli("eval", cond_run, "--metrics", "nn-error", "-n", "200", "--json", "--quiet")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    (scores,) = record["results"]
    assert 0.0 <= scores["nn_error"] <= 1.0 and scores["nn_n"] == 200
    # the real-data classifier of 200 digits is far better than a one-epoch tiny G
    assert scores["nn_error_real"] < 0.3 < scores["nn_error"]
    assert scores["nn_real_n"] == 200 and scores["nn_test_n"] == 360
    assert record["protocol"]["nn_error"]["space"] == "pixel"


def test_nn_error_in_d_feature_space(cond_run):
    ckpt = load_checkpoint(cond_run)
    scores = NNErrorEval(ckpt, 100, "d-features").score(ckpt)
    assert 0.0 <= scores["nn_error"] <= 1.0 and 0.0 <= scores["nn_error_real"] <= 1.0


def test_nn_error_of_an_unconditional_run_is_refused(cli, tiny_run, tmp_path):
    with pytest.raises(EvalError, match="class-conditional run"):
        NNErrorEval(load_checkpoint(tiny_run), 100)
    result = cli("eval", tiny_run, "--metrics", "nn-error", "-n", "100")
    assert result.exit_code == 1 and "--conditional" in result.stderr


def test_nn_space_choices_match_the_library():
    from ganlab.cli import eval as eval_cli
    from ganlab.core.metrics import nnerror

    assert tuple(m.value for m in eval_cli.NNSpace) == nnerror.SPACES


def test_copy_of_run_keeps_classes(cond_run, tmp_path):
    """Class names travel in the checkpoint itself, not only in config.json."""
    ckpt_file = load_checkpoint(cond_run).path
    copy = tmp_path / "alone.pt"
    shutil.copy(ckpt_file, copy)
    assert load_checkpoint(copy).class_names == [str(d) for d in range(10)]


@pytest.mark.slow
def test_conditional_ddp_two_processes_train_and_resume(tmp_path):
    """torchrun with gloo: each rank's slice of a batch carries its own labels."""
    import os
    import socket
    import subprocess
    import sys

    def torchrun(*args):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        cmd = [*launcher, "--master_addr", "127.0.0.1", "--master_port", str(port)]
        cmd += ["-m", "ganlab", *args]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    tiny = ["--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "64",
            "--device", "cpu", "--checkpoint-every", "0", "--amp", "off"]  # fmt: skip
    out = tmp_path / "run"
    first = torchrun("train", "digits", "--conditional", *tiny, "--max-steps", "6", "--out",
                     str(out), "--quiet")  # fmt: skip
    assert first.returncode == 0, first.stderr[-3000:]
    ckpt = load_checkpoint(out)
    assert ckpt.model_config.num_classes == 10 and ckpt.state["world_size"] == 2
    second = torchrun("train", "--resume", str(out), "--max-steps", "10", "--quiet")
    assert second.returncode == 0, second.stderr[-3000:]
    assert load_checkpoint(out).step == 10


def test_fid_features_of_a_conditional_g_cover_the_classes_evenly(cond_run):
    """`eval` and `train --eval-every` render seed i in class i % K, as nn-error does."""
    from ganlab.core.metrics import generator_features
    from ganlab.io.images import to_uint8

    ckpt = load_checkpoint(cond_run)
    feats = generator_features(
        load_generator(ckpt), ckpt.z_dist, 23, lambda images: {"pixels": images}, batch_size=8
    )["pixels"]
    z = z_from_seeds(list(range(23)), ckpt.model_config.nz, ckpt.z_dist)
    expected = to_uint8(generate(ckpt, z, labels=torch.arange(23) % 10))
    assert torch.equal(feats, expected)
