"""The public Python API (`import ganlab`): the same library as the CLI, stable signatures, a
light import, and the tour notebook run top to bottom."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganlab
from ganlab.errors import CheckpointError, GanlabError
from ganlab.io.images import png_bytes

ROOT = Path(__file__).resolve().parents[1]
SIGNATURES = Path(__file__).parent / "data" / "api_signatures.txt"


def current_signatures() -> list[str]:
    """One line per public name (and each public member of a public class): its signature."""
    lines = []
    for name in sorted(ganlab.__all__):
        obj = getattr(ganlab, name)
        if inspect.isclass(obj):
            lines.append(f"class {name}{_signature(obj)}")
            for member, value in sorted(vars(obj).items()):
                if member.startswith("_"):
                    continue
                if isinstance(value, classmethod | staticmethod):
                    lines.append(f"  {name}.{member}{_signature(getattr(obj, member))} (class)")
                elif callable(value):
                    lines.append(f"  {name}.{member}{_signature(value)}")
                else:  # a field, property or cached property
                    lines.append(f"  {name}.{member} (attribute)")
        else:
            lines.append(f"{name}{_signature(obj)}")
    return lines


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def test_public_names_keep_their_signatures():
    """A change to a public name's signature must be announced: update docs/python.md and
    CHANGELOG.md, then this list (`python tests/test_api.py --write`)."""
    assert current_signatures() == SIGNATURES.read_text().splitlines()


def test_every_public_name_is_documented():
    doc = (ROOT / "docs" / "python.md").read_text()
    missing = [name for name in ganlab.__all__ if f"`ganlab.{name}" not in doc]
    assert not missing, missing


def test_import_is_light(tiny_run):
    """`import ganlab` loads neither torch-fidelity, matplotlib, onnx nor tensorboard (nor
    torch: the names load on first use), and loading a run does not load them either."""
    code = (
        "import sys, ganlab; light = 'torch' not in sys.modules; ganlab.load(sys.argv[1]); "
        "heavy = [m for m in ('torch_fidelity', 'matplotlib', 'onnx', 'tensorboard') "
        "if m in sys.modules]; print(light, heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tiny_run)], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "True []"


def test_generate_gives_the_bytes_of_ganlab_sample(cli, tiny_run):
    run = ganlab.load(tiny_run)
    images = run.generate(seeds=[0, 5, 9])
    assert images.dtype == torch.uint8 and images.shape[0] == 3
    for seeds, tiles in (("0", images[:1]), ("0,5,9", images)):
        sampled = cli("sample", tiny_run, "--seeds", seeds, "--out", "-")
        assert sampled.exit_code == 0, sampled.stderr
        assert png_bytes(ganlab.grid(tiles)) == sampled.stdout_bytes
    # z gives what the seeds give, and one latent (nz,) is one image
    assert torch.equal(run.generate(z=run.z([5])[0]), images[1:2])


def test_mistakes_are_the_clis_errors(cli, tiny_run, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(CheckpointError) as e:
        ganlab.load(missing)
    result = cli("sample", tmp_path, "--seeds", "0", "--out", tmp_path / "x.png")
    assert result.exit_code == 1
    with pytest.raises(CheckpointError) as e2:
        ganlab.load(tmp_path)
    assert str(e2.value) in result.stderr.replace("\n", " ")
    assert "does not exist" in str(e.value)
    run = ganlab.load(tiny_run)
    with pytest.raises(GanlabError, match="seeds or z"):
        run.generate()
    with pytest.raises(GanlabError, match="uint8"):
        ganlab.grid(torch.zeros(1, 1, 4, 4))


def test_edit_and_interpolate_are_the_commands_maths(tiny_run, cli, tmp_path):
    import shutil

    from ganlab.core.seeds import concept_z

    tiny_run = shutil.copytree(tiny_run, tmp_path / "run")  # concepts go into a copy

    assert cli("concept", "add", "a", "--run", tiny_run, "--seeds", "1,2,3").exit_code == 0
    assert cli("concept", "add", "b", "--run", tiny_run, "--seeds", "4,5").exit_code == 0
    run = ganlab.load(tiny_run)
    assert set(run.concepts) >= {"a", "b"}
    z = run.z([7, 8])
    edited = run.edit(z, plus="a", minus="b", scale=0.5)
    a, b = (concept_z(run.concepts[n], run.nz, run.z_dist) for n in "ab")
    torch.testing.assert_close(edited, z + 0.5 * (a - b))
    with pytest.raises(GanlabError, match="no concept|unknown|not"):
        run.edit(z, plus="nothing-such")
    path = run.interpolate(7, 8, steps=3)
    assert path.shape == (5, run.nz)
    assert torch.equal(path[0], z[0]) and torch.equal(path[-1], z[1])


@pytest.mark.slow
def test_train_and_probe_return_the_clis_results(tmp_path, cli):
    run = ganlab.train(
        dataset="digits", split="all", image_size=16, ngf=8, ndf=8, nz=16, batch_size=64,
        max_steps=4, device="cpu", workers=0, amp="off", checkpoint_every=0, out=tmp_path / "r",
    )  # fmt: skip
    assert isinstance(run, ganlab.Run) and run.step == 4 and run.path == tmp_path / "r"
    result = ganlab.probe("digits", run, device="cpu", amp="off")
    printed = cli("probe", "digits", "-c", run.checkpoint.path, "--device", "cpu", "--amp",
                  "off", "--json")  # fmt: skip
    assert printed.exit_code == 0, printed.stderr
    as_cli = json.loads(printed.stdout)
    ours = result.to_dict()
    volatile = {"kind", "argv", "extract_s", "load_s", "fit_s", "checkpoint", "c_search", "refit"}
    assert {k: v for k, v in ours.items() if k not in volatile} == {
        k: v for k, v in as_cli.items() if k not in volatile
    }


@pytest.mark.slow
def test_the_tour_notebook_runs_top_to_bottom(tmp_path):
    """examples/tour.ipynb, executed headless in a kernel of this Python, shows a grid, a walk,
    an arithmetic result and a probe number; it is committed without outputs."""
    import nbclient  # the test extra (pip install -e '.[test]'): a missing one fails here
    import nbformat

    path = ROOT / "examples" / "tour.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "clear outputs"
    # a kernel spec for this very interpreter, whatever `python` is on PATH
    spec = tmp_path / "kernels" / "ganlab-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "ganlab test", "language": "python"})
    )
    env = {"JUPYTER_PATH": str(tmp_path), "GANLAB_TOUR_OUT": str(tmp_path / "tour")}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(
            nb, timeout=600, kernel_name="ganlab-test", resources={"metadata": {"path": tmp_path}}
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if os.environ.get("GANLAB_TOUR_EXECUTED"):  # keep the executed copy to look at
        nbformat.write(nb, os.environ["GANLAB_TOUR_EXECUTED"])
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) >= 3  # samples, walk, arithmetic
    text = "".join(o.get("text", "") for o in outputs)
    assert "trained D: test accuracy" in text and "random D:" in text


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    SIGNATURES.write_text("\n".join(current_signatures()) + "\n")
    print(f"wrote {SIGNATURES}")
