"""`ganlab project`: real images into z, the encoder, and projected latents in every command."""

import json
import shutil

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.core.encoder import fit_encoder, load_encoder, save_encoder
from ganlab.core.generate import generate
from ganlab.core.projection import ProjectionConfig, from_free, project, to_free
from ganlab.core.seeds import concept_exemplars, concept_z, z_from_seeds
from ganlab.core.trainset import data_spec_of
from ganlab.data import load_dataset
from ganlab.data.digits import read_digits
from ganlab.data.registry import decode_as
from ganlab.data.userimages import read_user_images
from ganlab.errors import GanlabError, ImageInputError
from ganlab.experiments.arithmetic import arithmetic
from ganlab.experiments.concept import add_concept
from ganlab.experiments.project import project_images
from ganlab.io.checkpoint import load_checkpoint
from ganlab.io.concepts import load_concepts
from ganlab.io.images import to_uint8
from ganlab.io.latents import read_latents, write_latents

NZ = 16
FAST = ProjectionConfig(steps=40, restarts=8)  # a short search: the tiny run's G is simple


@pytest.fixture(scope="module")
def run(tiny_run, tmp_path_factory):
    """A copy of the tiny run (projection writes concepts and encoders into it)."""
    dst = tmp_path_factory.mktemp("project") / "run"
    shutil.copytree(tiny_run, dst)
    return dst


@pytest.fixture(scope="module")
def ckpt(run):
    return load_checkpoint(run)


@pytest.fixture(scope="module")
def digits_test():
    """uint8 (8, 1, 16, 16): real digits of the test split, which the tiny run never saw."""
    return load_dataset("digits", split="test", image_size=16, channels=1).images[:8]


@pytest.fixture(scope="module")
def photos(tmp_path_factory, digits_test):
    """Folder of PNGs of test digits (at 32 px, so projection has to resize them)."""
    folder = tmp_path_factory.mktemp("photos")
    big = load_dataset("digits", split="test", image_size=32, channels=1).images[:4]
    for i, img in enumerate(big):
        Image.fromarray(img[0].numpy(), "L").save(folder / f"d{i}.png")
    return folder


@pytest.fixture(scope="module")
def encoder(ckpt):
    E, fit = fit_encoder(ckpt, steps=60, batch_size=32)
    return E, fit


# --- the search -----------------------------------------------------------------------------


def test_prior_parametrisation_stays_inside():
    w = torch.randn(4, NZ) * 10
    z = from_free(w, "uniform")
    assert z.abs().max() <= 1
    torch.testing.assert_close(from_free(to_free(z, "uniform"), "uniform"), z)
    shell = from_free(w, "normal")
    torch.testing.assert_close(shell.norm(dim=1), torch.full((4,), NZ**0.5))


def test_round_trip_of_generated_images(ckpt):
    z_true = z_from_seeds([1000, 1001, 1002, 1003], NZ, "uniform")
    targets = to_uint8(generate(ckpt, z_true))
    start = project(ckpt, targets, ProjectionConfig(steps=0, restarts=FAST.restarts))
    found = project(ckpt, targets, ProjectionConfig(steps=150, restarts=FAST.restarts))
    assert found.pixel_mse.max() < 2e-5  # RMS under 0.5% of the intensity range
    assert found.pixel_mse.mean() < 0.5 * start.pixel_mse.mean()
    assert (found.loss <= found.start_loss).all()
    assert found.start == start.start and all(s.startswith("seed ") for s in found.start)
    assert found.z.abs().max() <= 1  # inside the uniform prior


def test_real_images_optimisation_beats_restarts_and_encoder_does_no_harm(
    ckpt, digits_test, encoder
):
    restarts = project(ckpt, digits_test, ProjectionConfig(steps=0, restarts=FAST.restarts))
    optimised = project(ckpt, digits_test, FAST)
    assert (optimised.loss <= restarts.loss + 1e-7).all()
    assert optimised.loss.mean() < restarts.loss.mean()
    assert optimised.pixel_mse.mean() < restarts.pixel_mse.mean()
    E, _ = encoder
    with_encoder = project(ckpt, digits_test, FAST, encoder=E)
    # the encoder's guess is one more start: the start is never worse, nor (here) the result
    assert (with_encoder.start_loss <= optimised.start_loss + 1e-7).all()
    assert with_encoder.loss.mean() <= optimised.loss.mean() * 1.02


def test_bf16_search_reports_float32_errors_of_what_it_found(ckpt, digits_test):
    """--amp bf16: the search runs under autocast, and the reported errors are the float32
    errors of the z it returns (what `sample --latents` renders), close to a float32 search's."""
    config = ProjectionConfig(steps=40, restarts=8, amp="bf16")
    found = project(ckpt, digits_test[:4], config)
    assert found.precision == "bf16"
    images = generate(ckpt, found.z)  # float32 rendering of the returned latents
    target = digits_test[:4].float() / 127.5 - 1
    mse = (images - target).square().flatten(1).mean(1) / 4
    torch.testing.assert_close(found.pixel_mse, mse, rtol=1e-4, atol=1e-7)
    fp32 = project(ckpt, digits_test[:4], ProjectionConfig(steps=40, restarts=8))
    assert fp32.precision == "off"
    assert found.loss.mean() < 1.25 * fp32.loss.mean()


def test_results_do_not_depend_on_the_batch(ckpt, digits_test):
    one = project(ckpt, digits_test[:4], ProjectionConfig(steps=10, restarts=4, batch_size=4))
    two = project(ckpt, digits_test[:4], ProjectionConfig(steps=10, restarts=4, batch_size=2))
    torch.testing.assert_close(one.z, two.z, atol=1e-5, rtol=0)
    assert one.start == two.start


def test_cli_defaults_are_the_library_defaults():
    import inspect

    from ganlab.cli.project import project_cli

    params = inspect.signature(project_cli).parameters
    for name, value in vars(ProjectionConfig()).items():
        if name == "amp":  # the command follows the machine's policy; the library is float32
            assert (params[name].default, value) == ("auto", "off")
            continue
        assert params[name].default == value, name


def test_bad_settings_are_refused(ckpt, digits_test):
    with pytest.raises(GanlabError, match="nothing to start from"):
        project(ckpt, digits_test, ProjectionConfig(restarts=0))
    with pytest.raises(GanlabError, match="learning rate"):
        project(ckpt, digits_test, ProjectionConfig(lr=0))


# --- preprocessing ----------------------------------------------------------------------------


def test_files_are_decoded_like_the_training_images(tmp_path, dataset_files):
    # digits: the native 8x8 image as a PNG gives exactly the training tensor at 16 px
    native, _ = read_digits("test")
    Image.fromarray(native[3, 0], "L").save(tmp_path / "d.png")
    trained = load_dataset("digits", split="test", image_size=16, channels=1).images[3]
    assert torch.equal(decode_as("digits", tmp_path / "d.png", 16, 1), trained)
    # celeba: the 108 px centre crop, as the dataset reader cuts it (border colour excluded)
    root = dataset_files.write_celeba(tmp_path / "celeba", n=1)
    item, _ = load_dataset("celeba", root, image_size=32)[0]
    file = root / "img_align_celeba" / "000001.jpg"
    assert torch.equal(decode_as("celeba", file, 32, 3), item)


# --- the command ------------------------------------------------------------------------------


def test_project_cli_writes_latents_grid_and_json(cli, run, photos, tmp_path):
    args = ["project", run, photos, "--steps", "20", "--restarts", "4", "--device", "cpu"]
    out, grid = tmp_path / "l.h5", tmp_path / "g.png"
    result = cli(*args, "--out", out, "--grid", grid, "--json", "--no-encoder")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["count"] == 4 and data["encoder"] is None
    assert [r["source"] for r in data["images"]] == [str(photos / f"d{i}.png") for i in range(4)]
    assert {"pixel_mse", "psnr", "feature_dist", "start", "loss"} <= set(data["images"][0])
    assert set(data["summary"]["psnr"]) == {"mean", "median", "worst"}
    with h5py.File(out) as f:
        assert f["z"].shape == (4, NZ) and f["z"].dtype == np.float32
        assert [s.decode() for s in f["sources"][:]] == [r["source"] for r in data["images"]]
        np.testing.assert_allclose(
            f["pixel_mse"][:], [r["pixel_mse"] for r in data["images"]], atol=1e-6
        )
        assert f.attrs["format"] == "ganlab-latents" and f.attrs["nz"] == NZ
        assert f.attrs["checkpoint_sha256"] == load_checkpoint(run).sha256()
        assert f.attrs["steps"] == 20 and f.attrs["z_dist"] == "uniform"
    # 4 originals over their 4 reconstructions, 16 px tiles
    assert Image.open(grid).size == (4 * 18 + 2, 2 * 18 + 2)
    # deterministic: the same command gives the same z and the same grid bytes
    again = cli(*args, "--out", tmp_path / "l2.h5", "--grid", tmp_path / "g2.png", "--no-encoder")
    assert again.exit_code == 0, again.output
    assert "pixel mse" in again.stderr and "PSNR" in again.stderr
    assert torch.equal(read_latents(out).z, read_latents(tmp_path / "l2.h5").z)
    assert grid.read_bytes() == (tmp_path / "g2.png").read_bytes()


def test_grid_reconstructions_are_what_sample_renders(cli, run, photos, tmp_path, grid_tiles):
    out = tmp_path / "l.h5"
    res = cli("project", run, photos, "--steps", "5", "--out", out, "--grid", tmp_path / "g.png")
    assert res.exit_code == 0, res.output
    res = cli("sample", run, "--latents", out, "--out", tmp_path / "s.png", "--nrow", "4")
    assert res.exit_code == 0, res.output
    recon = grid_tiles(tmp_path / "g.png", 2, 4)[4:]
    np.testing.assert_array_equal(grid_tiles(tmp_path / "s.png", 1, 4), recon)
    originals = grid_tiles(tmp_path / "g.png", 2, 4)[:4]
    expected = [np.asarray(Image.open(photos / f"d{i}.png").resize((16, 16))) for i in range(4)]
    assert np.abs(originals.astype(int) - np.stack(expected)).mean() < 8  # the photos, resized


def test_dataset_input(ckpt, run, tmp_path):
    result = project_images(run, ["digits"], tmp_path / "l.h5", num=3, config=FAST)
    assert [r["source"] for r in result.images] == [
        "digits/test/0",
        "digits/test/1",
        "digits/test/2",
    ]
    latents = read_latents(tmp_path / "l.h5")
    assert latents.attrs["dataset"] == "digits" and latents.attrs["split"] == "test"
    with pytest.raises(GanlabError, match="dataset"):
        project_images(run, ["digits", "x.png"], tmp_path / "m.h5")


def test_encoder_is_stored_and_used_automatically(cli, tiny_run, photos, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    res = cli("project", run, "--train-encoder", "--encoder-steps", "20", "--json", "-q")
    assert res.exit_code == 0, res.output
    fitted = json.loads(res.stdout)
    assert fitted["path"] == str(run / "encoder.pt") and fitted["fit"]["steps"] == 20
    args = ["project", run, photos, "--steps", "3", "--restarts", "2", "--json"]
    used = json.loads(cli(*args, "--out", tmp_path / "a.h5").stdout)
    assert used["encoder"] == str(run / "encoder.pt")
    unused = json.loads(cli(*args, "--out", tmp_path / "b.h5", "--no-encoder").stdout)
    assert unused["encoder"] is None
    assert all(r["start"] != "encoder" for r in unused["images"])
    stored = load_encoder(run, load_checkpoint(run))
    assert stored.step == 28 and stored.stale(load_checkpoint(run)) is None


def test_encoder_of_another_shape_is_refused(ckpt, tmp_path, tiny_config):
    from ganlab.core.train import train

    other = tmp_path / "other"
    train(tiny_config(max_steps=1, nz=8), out=other)
    E, fit = fit_encoder(load_checkpoint(other), steps=1, batch_size=4)
    save_encoder(other, E, fit, load_checkpoint(other))
    shutil.copy(other / "encoder.pt", tmp_path / "encoder.pt")
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(ckpt.path, tmp_path / "checkpoints" / ckpt.path.name)
    (tmp_path / "checkpoints" / "latest").write_text(ckpt.path.name)
    with pytest.raises(GanlabError, match="nz=8.*nz=16"):
        load_encoder(tmp_path, ckpt)


# --- projected latents everywhere a seed is ---------------------------------------------------


def test_concept_from_images_round_trips(cli, run, photos, tmp_path):
    files = [photos / "d0.png", photos / "d1.png", photos / "d2.png"]
    # one --images flag, several values (and the run after them)
    res = cli("concept", "add", "mine", "--images", *files, "--run", run, "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert "3 images" in res.stderr and "pixel mse" in res.stderr
    concept = load_concepts(run).concepts["mine"]
    assert concept.seeds == [] and len(concept.latents) == 3
    assert concept.source["kind"] == "images"
    assert concept.source["images"] == [str(f) for f in files]
    assert len(concept.source["pixel_mse"]) == 3
    text = json.loads((run / "concepts.json").read_text())
    assert text["version"] == 2 and "latents" in text["concepts"]["mine"]
    # the stored z are exactly the projection's (float32 through JSON and back)
    ckpt = load_checkpoint(run)
    expected = project(ckpt, read_user_images(data_spec_of(ckpt), files).images, ProjectionConfig())
    z = concept_exemplars(concept, NZ, "uniform")
    assert z.dtype == torch.float32 and torch.equal(z, expected.z)
    torch.testing.assert_close(concept_z(concept, NZ, "uniform"), expected.z.mean(0))
    listed = cli("concept", "list", "--run", run)
    assert "3 images" in listed.stdout and "images" in listed.stdout


def test_base_image_arithmetic_is_byte_identical(run, photos, tmp_path):
    add_concept(run, "a", [1, 2, 3], replace=True)
    add_concept(run, "b", [4, 5], replace=True)
    kwargs = dict(plus=["b"], minus=["a"], base_images=[photos / "d3.png"])
    first = arithmetic(run, out=str(tmp_path / "1.png"), **kwargs)
    arithmetic(run, out=str(tmp_path / "2.png"), **kwargs)
    assert (tmp_path / "1.png").read_bytes() == (tmp_path / "2.png").read_bytes()
    assert first.mode == "pairs" and first.grid == [3, 1]  # photo / before / after
    assert first.images[0]["source"] == str(photos / "d3.png")
    with pytest.raises(GanlabError, match="one of --base"):
        arithmetic(run, out=str(tmp_path / "3.png"), seeds=[1], **kwargs)


def test_interpolate_between_images(cli, run, photos, tmp_path, grid_tiles):
    files = [photos / "d0.png", photos / "d1.png"]
    res = cli(
        "interpolate", run, "--images", *files, "--steps", "2", "--out", tmp_path / "w.png",
        "--json", "--device", "cpu",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["rows"] == [[str(f) for f in files]] and data["frames_per_row"] == 4
    assert [p["source"] for p in data["projections"]] == data["rows"][0]
    # the walk's ends are the images `ganlab project` finds for the photos
    project_images(run, files, tmp_path / "l.h5")
    cli("sample", run, "--latents", tmp_path / "l.h5", "--out", tmp_path / "s.png", "--nrow", "2")
    walk, ends = grid_tiles(tmp_path / "w.png", 1, 4), grid_tiles(tmp_path / "s.png", 1, 2)
    np.testing.assert_array_equal(walk[[0, 3]], ends)
    bad = cli("interpolate", run, "--images", files[0], "--seeds", "1,2")
    assert bad.exit_code == 2 and "--images" in bad.output


def test_sample_latents_files(cli, run, tmp_path):
    # `sample --out FILE.h5` files are latents files too
    res = cli("sample", run, "--seeds", "3,9", "--out", tmp_path / "s.h5")
    assert res.exit_code == 0, res.output
    res = cli("sample", run, "--latents", tmp_path / "s.h5", "--out", tmp_path / "again.h5")
    assert res.exit_code == 0, res.output
    with h5py.File(tmp_path / "s.h5") as f, h5py.File(tmp_path / "again.h5") as g:
        np.testing.assert_array_equal(f["images"][:], g["images"][:])
    assert read_latents(tmp_path / "s.h5").labels == ["seed 3", "seed 9"]
    both = cli("sample", run, "--latents", tmp_path / "s.h5", "-n", "3")
    assert both.exit_code == 2 and "--latents" in both.output


# --- errors -----------------------------------------------------------------------------------


def test_unreadable_image_is_a_clear_error(cli, run, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    res = cli("project", run, tmp_path / "bad.jpg", "--out", tmp_path / "l.h5")
    assert res.exit_code == 1
    assert f"cannot read image {tmp_path / 'bad.jpg'}" in res.stderr
    assert "Traceback" not in res.output and not (tmp_path / "l.h5").exists()
    res = cli("project", run, tmp_path / "missing.png")
    assert res.exit_code == 1 and "does not exist" in res.stderr


def test_colour_image_for_a_grey_run_is_converted_with_a_note(cli, run, tmp_path):
    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "red.png")
    res = cli("project", run, tmp_path / "red.png", "--steps", "2", "--out", tmp_path / "l.h5")
    assert res.exit_code == 0, res.output
    assert "converted to grey" in res.stderr and "1-channel" in res.stderr


def test_empty_folder_is_a_clear_error(cli, run, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    res = cli("project", run, tmp_path / "empty")
    assert res.exit_code == 1 and "holds no image files" in res.stderr
    with pytest.raises(ImageInputError, match="holds no image files"):
        project_images(run, [tmp_path / "empty"], tmp_path / "l.h5")


def test_latents_of_another_nz_are_refused(cli, run, tmp_path):
    write_latents(tmp_path / "l.h5", torch.zeros(2, 8), ["a", "b"], {"z_dist": "uniform"})
    res = cli("sample", run, "--latents", tmp_path / "l.h5", "--out", tmp_path / "s.png")
    assert res.exit_code == 1
    assert "nz=8 latents" in res.stderr and "nz=16" in res.stderr
    assert "Traceback" not in res.output


def test_usage_errors(cli, run, tmp_path):
    for args, fragment in [
        ([], "IMAGES"),
        (["x.png", "--lr", "0"], "learning rate"),
        (["x.png", "--grid", tmp_path / "g.gif"], "cannot write"),
        (["--train-encoder", "--no-encoder"], "--no-encoder"),
    ]:
        res = cli("project", run, *args)
        assert res.exit_code == 2, res.output
        assert fragment in res.output
