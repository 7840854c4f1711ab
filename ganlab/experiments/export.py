"""`ganlab export RUN`: a trained G (and D) as one file for use outside ganlab.

TorchScript (`.pt`, loads with plain `torch.jit.load`, no ganlab needed) or ONNX (`.onnx`, for
onnxruntime and other runtimes; the optional extra ganlab[onnx]). The nets are exported in eval
mode, so an exported G maps z (N, nz) to images (N, C, S, S) in [-1, 1] exactly as
`ganlab sample` renders them: each export is checked against ganlab's own forward pass on the
latents of seeds 0-7 before it is written (max |difference| <= 1e-5, reported). The run's nz,
z prior, image size, channels, step, which G (`weights`: "ema", the averaged G, or "raw") and
ganlab version travel with the file: TorchScript as the extra file `ganlab.json`, ONNX as
metadata_props.
"""

from __future__ import annotations

import importlib.util
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab import __version__
from ganlab.core.generate import generate
from ganlab.core.nets import load_discriminator, load_generator
from ganlab.core.seeds import z_from_seeds
from ganlab.errors import GanlabError
from ganlab.io.atomic import write_bytes
from ganlab.io.checkpoint import Checkpoint, load_checkpoint
from ganlab.io.runspec import run_dir_of

FORMATS = ("torchscript", "onnx")
SUFFIXES = {"torchscript": (".pt", ".pth"), "onnx": (".onnx",)}
ONNX_INSTALL = "pip install 'ganlab[onnx]'"
CHECK_SEEDS = list(range(8))  # the latents every export is checked on
TOLERANCE = 1e-5  # max |exported - ganlab| allowed, in image units ([-1, 1])
Z_PRIORS = {"uniform": "U(-1, 1)", "normal": "N(0, 1)"}
METADATA_FILE = "ganlab.json"  # TorchScript: the extra file holding the metadata
# per net: (its forward argument, the ONNX input's name, the ONNX output's name)
ONNX_NAMES = {"generator": ("z", "z", "images"), "discriminator": ("x", "images", "logits")}


@dataclass
class ExportResult:
    """What `export` wrote (also `ganlab export --json`)."""

    format: str
    out: str  # G's file
    discriminator: str | None  # D's file (--with-discriminator)
    metadata: dict  # G's metadata, as stored in the file
    max_abs_error: float  # |exported G - ganlab's G| over seeds 0-7
    d_max_abs_error: float | None = None  # the same for D's logits on those images


def default_out(run: str | Path, fmt: str) -> Path:
    """RUN/export/generator.pt (torchscript) or .onnx."""
    return run_dir_of(run) / "export" / f"generator{SUFFIXES[fmt][0]}"


def discriminator_path(out: str | Path) -> Path:
    """Where D goes beside G's file: 'generator' in the name becomes 'discriminator'
    (export/discriminator.onnx), else '-discriminator' is added (g.pt -> g-discriminator.pt)."""
    out = Path(out)
    stem = out.stem
    stem = (
        stem.replace("generator", "discriminator")
        if "generator" in stem
        else f"{stem}-discriminator"
    )
    return out.with_name(stem + out.suffix)


def check_out(out: str | Path, fmt: str) -> None:
    """GanlabError unless `out`'s suffix is one of the format's."""
    if fmt not in FORMATS:
        raise GanlabError(f"unknown export format {fmt!r}; use {' or '.join(FORMATS)}.")
    if Path(out).suffix.lower() not in SUFFIXES[fmt]:
        raise GanlabError(
            f"--out {out}: a {fmt} export is a {' or '.join(SUFFIXES[fmt])} file "
            f"(or pick the format that suffix names with --format)."
        )


def export(
    run: str | Path,
    fmt: str = "torchscript",
    out: str | Path | None = None,
    with_discriminator: bool = False,
    weights: str = "auto",
) -> ExportResult:
    """Export the run's G (and D) from its latest checkpoint (or the checkpoint given).

    Args:
        run: a run directory or a checkpoint file.
        fmt: "torchscript" or "onnx".
        out: G's file (default RUN/export/generator.pt or .onnx); D's goes beside it
            (`discriminator_path`).
        with_discriminator: export D too (image -> one logit per image).
        weights: which G is exported: "auto" (the averaged G of a run trained with --ema,
            else the trained G), "ema" or "raw" (the trained G); the metadata records which.
    Returns:
        An ExportResult with the files, G's metadata and the checked errors.
    Raises:
        GanlabError: bad suffix, ONNX extra missing, unusable checkpoint, or an export that
            does not reproduce ganlab's output (a bug: please report it).
    """
    out = Path(out) if out is not None else default_out(run, fmt)
    check_out(out, fmt)
    if fmt == "onnx":
        _require_onnx()
    ckpt = load_checkpoint(run).use_weights(weights)
    meta = _metadata(ckpt)
    z = z_from_seeds(CHECK_SEEDS, ckpt.model_config.nz, ckpt.z_dist)  # (8, nz)
    images = generate(ckpt, z)  # (8, C, S, S): what `ganlab sample --seeds 0-7` renders
    g_bytes, g_err = _export(load_generator(ckpt), z, images, fmt, {**meta, "net": "generator"})
    d_file, d_err = None, None
    if with_discriminator:
        D = load_discriminator(ckpt)
        with torch.no_grad():
            logits = D(images)  # (8,)
        d_meta = {**meta, "net": "discriminator", "input": _D_INPUT, "output": _D_OUTPUT}
        d_bytes, d_err = _export(D, images, logits, fmt, d_meta)
        d_file = discriminator_path(out)
        write_bytes(d_file, d_bytes)
    write_bytes(out, g_bytes)
    return ExportResult(
        format=fmt,
        out=str(out),
        discriminator=str(d_file) if d_file else None,
        metadata={**meta, "net": "generator"},
        max_abs_error=g_err,
        d_max_abs_error=d_err,
    )


_G_INPUT = "z: float32 (N, nz), drawn from the z prior"
_G_OUTPUT = "images: float32 (N, channels, image_size, image_size) in [-1, 1]"
_D_INPUT = "images: float32 (N, channels, image_size, image_size) in [-1, 1]"
_D_OUTPUT = "logits: float32 (N,), sigmoid(logit) = D's probability that the image is real"


def _metadata(ckpt: Checkpoint) -> dict:
    mc = ckpt.model_config
    return {
        "ganlab_version": __version__,
        "nz": mc.nz,
        "z_dist": ckpt.z_dist,
        "z_prior": Z_PRIORS.get(ckpt.z_dist, ckpt.z_dist),
        "image_size": mc.image_size,
        "channels": mc.channels,
        "arch": mc.arch,
        "ngf": mc.ngf,
        "ndf": mc.ndf,
        "dataset": ckpt.train_config.get("dataset"),
        "step": ckpt.step,
        "weights": ckpt.weights_used,  # G: the averaged ("ema") or the trained ("raw") one
        "checkpoint": ckpt.path.name,
        "checkpoint_sha256": ckpt.sha256(),
        "input": _G_INPUT,
        "output": _G_OUTPUT,
    }


def _export(net, x, expected, fmt: str, meta: dict) -> tuple[bytes, float]:
    """The exported file's bytes, and its max |output - expected| on `x` (checked here)."""
    net = net.eval()
    with torch.no_grad():
        if fmt == "torchscript":
            data = _torchscript(net, x, meta)
            got = _run_torchscript(data, x)
        else:
            data = _onnx(net, x, meta)
            got = _run_onnx(data, x)
    err = float((got - expected).abs().max())
    if not err <= TOLERANCE:
        raise GanlabError(
            f"the {fmt} export of the {meta['net']} differs from ganlab's own output by {err:.2e} "
            f"(> {TOLERANCE:g}); nothing was written. This is a bug: please report it with "
            f"your torch version ({torch.__version__})."
        )
    return data, err


def _torchscript(net, x, meta: dict) -> bytes:
    with warnings.catch_warnings():  # torch.jit is deprecated upstream but still the format
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(net, x[:2])  # the batch dimension stays free
        buf = io.BytesIO()
        torch.jit.save(traced, buf, _extra_files={METADATA_FILE: json.dumps(meta, indent=2)})
    return buf.getvalue()


def _run_torchscript(data: bytes, x) -> torch.Tensor:
    """Load the bytes just made (in memory: nothing is read from disk) and run them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(io.BytesIO(data))
    return module(x)


def _onnx(net, x, meta: dict) -> bytes:
    import onnx

    arg, input_name, output_name = ONNX_NAMES[meta["net"]]
    program = torch.onnx.export(  # torch.export-based: the exporter torch maintains
        net,
        (x[:2],),
        dynamo=True,
        verbose=False,
        input_names=[input_name],
        output_names=[output_name],
        dynamic_shapes={arg: {0: torch.export.Dim("batch")}},  # any batch size
    )
    model = program.model_proto
    for key, value in meta.items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, str(value)
    model.doc_string = f"ganlab {meta['net']}: {meta['input']} -> {meta['output']}"
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _run_onnx(data: bytes, x) -> torch.Tensor:
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    (name,) = [i.name for i in session.get_inputs()]
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


def _require_onnx() -> None:
    """GanlabError naming the install command unless ONNX export and onnxruntime are there."""
    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if not _importable(m)]
    if missing:
        raise GanlabError(
            f"--format onnx needs {', '.join(missing)}, part of ganlab's optional onnx extra: "
            f"install it with `{ONNX_INSTALL}`, then run the command again."
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return False
