"""`ganlab import authors`: the DCGAN authors' released G and D as an ordinary ganlab run.

The module is named for the command's two words (`import` alone is a Python keyword).

Newmu/dcgan_code publishes two models as `.jl` index files and `.npy` arrays: the SVHN G/D
behind Table 2 and the 32x32 ImageNet G/D behind Table 1. This module reads one saved epoch
(`ganlab.io.authors`, without unpickling), maps every array onto the equivalent ganlab layer,
re-estimates BatchNorm statistics the files do not hold, and writes a run directory
(config.json, checkpoints/, samples/) that every command reads like a trained run.

What the authors' Theano code computed, and how each piece maps:
- convolutions are cuDNN's default "conv" mode, a true convolution: the kernel is flipped
  relative to PyTorch's cross-correlation, so D's conv weights are flipped in both spatial
  axes. G's "deconv" is the gradient of such a convolution with respect to its input, whose
  weight has the transposed convolution's own layout (in, out, k, k): flipped the same way,
  it is exactly `nn.ConvTranspose2d` (with `output_padding` making the output 2s, as theirs);
- G's first layer is `T.dot(z, w)` with BatchNorm over each of the 16*w units, then a
  reshape to (w, 4, 4): `ModelConfig.g_dense` (w transposed into `nn.Linear`);
- D's last layer is `T.dot(flatten(h), wy)` over the (C, 4, 4) map in C order, which is
  ganlab's 4x4 head conv with `wy` reshaped to (1, C, 4, 4) (no flip: it is not a conv);
- BatchNorm epsilon 1e-8 (`ModelConfig.bn_eps`), LeakyReLU 0.2, SVHN 5x5 kernels with
  padding 2 (`ModelConfig.kernel_size`), ImageNet 3x3 (the imagenet32 arch);
- z: Gaussian for SVHN, U(-1, 1) for ImageNet (`TrainConfig.z_dist`).

BatchNorm: the files hold only scales and shifts (the authors normalised with batch
statistics). G's running statistics are estimated here over generated batches from seeded z
(`bn_batches` x 128, seed `seed`), so the import is deterministic. D's are then estimated the
way `ganlab probe --bn-stats recompute` estimates them, over G's samples: `sample --sort-by
d-score` and every other D reader work at once, and the probe (whose default is to
re-estimate over its own training images, as the authors' SVHN script did) replaces them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ganlab import __version__
from ganlab.core.config import TrainConfig
from ganlab.core.features import recompute_bn_stats
from ganlab.core.generate import generate
from ganlab.core.models import Discriminator, Generator, reestimating_batchnorm
from ganlab.core.seeds import sample_z, z_from_seeds
from ganlab.errors import CheckpointError
from ganlab.io.authors import AuthorsFolder, find_epoch, load_array
from ganlab.io.checkpoint import load_checkpoint, save_checkpoint, write_latest
from ganlab.io.images import grid_image, save_png, to_uint8
from ganlab.io.rundir import RunDir
from ganlab.modelconfig import ModelConfig
from ganlab.progress import Reporter

BN_BATCH = 128  # images per BatchNorm batch (the paper's minibatch and the probe's)


@dataclass(frozen=True)
class AuthorsModel:
    """One of the released models: what is known of its training, so also its shape."""

    name: str
    train: TrainConfig  # fields not known from the authors' code keep ganlab's defaults
    arrays: tuple[int, int]  # arrays in (gen, discrim) index files: how a folder is recognised

    @property
    def model(self) -> ModelConfig:
        return self.train.model_config(self.train.data.image_size, self.train.data.channels)


AUTHORS_MODELS = (
    AuthorsModel(
        "svhn",  # svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb (Table 2)
        TrainConfig.from_options(
            dataset="svhn", image_size=32, channels=3, nz=100, ngf=64, ndf=64, kernel_size=5,
            g_dense=True, bn_eps=1e-8, z_dist="normal", batch_size=64, lr=5e-4,
        ),
        (10, 8),
    ),
    AuthorsModel(
        "imagenet32",  # imagenet_gan_pretrain_128f_relu_lrelu_7l_3x3_256z (Table 1)
        TrainConfig.from_options(
            dataset="imagenet", arch="imagenet32", image_size=32, channels=3, g_dense=True,
            bn_eps=1e-8,
        ),
        (19, 17),
    ),
)  # fmt: skip


@dataclass
class ImportResult:
    run_dir: str
    checkpoint: str
    model: str  # "svhn" or "imagenet32"
    source: str
    epoch: int
    files: int  # source files hashed and read
    parameters: int  # G + D
    bn_samples: int  # generated images the BatchNorm statistics were estimated over
    seconds: float
    warnings: list[str] = field(default_factory=list)


def import_authors(
    folder: str | Path,
    out: str | Path,
    epoch: int | None = None,
    bn_batches: int = 20,
    seed: int = 0,
    device: str | torch.device = "cpu",
    reporter: Reporter | None = None,
    command: list[str] | None = None,
) -> ImportResult:
    """Convert one of the authors' model folders into a ganlab run directory.

    Args:
        folder: the model folder (`N_gen_params.jl`, `N_discrim_params.jl`, `.npy` arrays).
        out: the run directory to create (must not exist or be empty).
        epoch: the saved epoch to read (default: the latest in the folder).
        bn_batches: batches of 128 generated images for the BatchNorm statistics.
        seed: seeds the z of those batches (same seed, same run).
        device: where G and D run while estimating the statistics.
        reporter: progress and log lines (default: quiet).
        command: the command line, recorded in config.json.
    Returns:
        An ImportResult; the run directory holds config.json (with the source folder, epoch
        and every source file's SHA256), checkpoints/ and a sample grid.
    Raises:
        CheckpointError: the folder is not a known authors' model, or a file is missing,
            refused (an index that is not a plain list of arrays) or of the wrong shape.
    """
    rep = reporter or Reporter(quiet=True)
    start = time.perf_counter()
    run = RunDir(out)
    if run.path.exists() and any(run.path.iterdir()):  # before any work (RunDir.create checks too)
        raise CheckpointError(
            f"output directory {run.path} already exists and is not empty. Choose another --out."
        )
    src = find_epoch(folder, epoch)
    known = identify(src)
    rep.log(f"{src.path}: the authors' {known.name} model, epoch {src.epoch}")
    G, D = Generator(known.model), Discriminator(known.model)
    load_authors_arrays(G, src, "gen")  # every file checked: missing ones are named here
    load_authors_arrays(D, src, "discrim")
    sha256s = src.sha256s()

    device = torch.device(device)
    G.to(device)
    D.to(device)
    rep.log(f"estimating BatchNorm statistics over {bn_batches} x {BN_BATCH} generated images")
    estimate_g_bn_stats(G, known.train.z_dist, bn_batches, seed, device)
    recompute_bn_stats(D, _sample_batches(G, known.train.z_dist, bn_batches, seed + 1, device))

    source = {
        "kind": "authors",
        "model": known.name,
        "folder": str(src.path.resolve()),
        "epoch": src.epoch,
        "sha256": sha256s,
        "bn_stats": {"batches": bn_batches, "batch_size": BN_BATCH, "seed": seed},
    }
    train_cfg = known.train.replace(epochs=max(src.epoch, 1))  # the epochs they trained
    run.create(
        {
            "ganlab_version": __version__,
            "config": train_cfg.to_dict(),
            "model": known.model.to_dict(),
            "source": source,
            "command": command or [],
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    )
    state = {
        "config": train_cfg.to_dict(),
        "model_config": known.model.to_dict(),
        "step": 0,  # the authors recorded epochs, not steps
        "epoch": src.epoch,
        "world_size": 1,
        "generator": {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()},
        "discriminator": {k: v.detach().cpu().contiguous() for k, v in D.state_dict().items()},
        "source": source,
    }
    ckpt_path = run.checkpoint_path(0)
    save_checkpoint(ckpt_path, state)
    write_latest(run.checkpoints_dir, ckpt_path.name)
    # the grid `ganlab sample RUN --seeds 0-63` renders, rendered the same way
    z = z_from_seeds(list(range(64)), known.model.nz, known.train.z_dist)
    grid = grid_image(generate(load_checkpoint(ckpt_path), z, device))
    save_png(grid, run.samples_dir / f"epoch-{src.epoch:04d}.png")
    n_params = sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters())
    return ImportResult(
        run_dir=str(run.path),
        checkpoint=str(ckpt_path),
        model=known.name,
        source=str(src.path),
        epoch=src.epoch,
        files=len(sha256s),
        parameters=n_params,
        bn_samples=bn_batches * BN_BATCH,
        seconds=round(time.perf_counter() - start, 3),
    )


def identify(src: AuthorsFolder) -> AuthorsModel:
    """The released model whose array counts the folder's two index files have."""
    counts = (len(src.array_names("gen")), len(src.array_names("discrim")))
    for known in AUTHORS_MODELS:
        if known.arrays == counts:
            return known
    expected = "; ".join(f"{m.name}: {m.arrays[0]} and {m.arrays[1]}" for m in AUTHORS_MODELS)
    raise CheckpointError(
        f"{src.path} lists {counts[0]} G arrays and {counts[1]} D arrays, which is neither of "
        f"the authors' released models ({expected}). Only their SVHN and 32x32 ImageNet "
        "models are known to `ganlab import authors`."
    )


def authors_layout(net: nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    """(state-dict key, the authors' array shape, kind) of each parameter, in their order.

    The authors list parameters layer by layer, weight then BatchNorm scale and shift, the
    order in which ganlab's modules register them. Kinds: "dense" (G's projection: theirs is
    (nz, units), nn.Linear's its transpose), "conv" (flipped), "head" (D's dense 4x4xC -> 1
    as a 4x4 conv), "bn" (as is).
    """
    layout = []
    for mod_name, m in net.named_modules():
        for p_name, p in m.named_parameters(recurse=False):
            key, shape = f"{mod_name}.{p_name}", tuple(p.shape)
            if isinstance(net, Discriminator) and m is net.head:
                layout.append((key, (p.numel(), 1), "head"))
            elif isinstance(m, nn.Linear):
                layout.append((key, (shape[1], shape[0]), "dense"))
            elif isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                layout.append((key, shape, "conv"))
            else:
                layout.append((key, shape, "bn"))
    return layout


def to_ganlab(array: np.ndarray, kind: str, shape: torch.Size) -> torch.Tensor:
    """One authors' array as the ganlab parameter of `shape` (see `authors_layout`)."""
    if kind == "dense":
        array = array.T  # (nz, units) -> nn.Linear's (units, nz)
    elif kind == "conv":
        array = array[:, :, ::-1, ::-1]  # true convolution -> cross-correlation
    elif kind == "head":
        array = array.reshape(shape)  # (C*16, 1) in C order -> (1, C, 4, 4)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def load_authors_arrays(net: nn.Module, src: AuthorsFolder, which: str) -> None:
    """Read `which` ("gen" or "discrim") of `src` into `net`'s parameters, checking shapes."""
    names = src.array_names(which)
    layout = authors_layout(net)
    if len(names) != len(layout):
        raise CheckpointError(
            f"{src.index(which)} lists {len(names)} arrays; the model needs {len(layout)}."
        )
    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, (key, shape, kind) in zip(names, layout, strict=True):
            array = load_array(src.path / name, shape)
            params[key].copy_(to_ganlab(array, kind, params[key].shape))


@torch.no_grad()
def estimate_g_bn_stats(
    G: Generator, z_dist: str, batches: int, seed: int, device: torch.device
) -> None:
    """Set G's BatchNorm running statistics to their average over generated batches.

    G runs in train mode (batch statistics, as the authors' G always ran) over `batches`
    batches of 128 z drawn from one generator seeded with `seed`; each BatchNorm's running
    mean and variance become the average over those batches. G is left in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)
    with reestimating_batchnorm(G):
        for _ in range(batches):
            G(sample_z(BN_BATCH, G.cfg.nz, z_dist, gen).to(device))


def _sample_batches(G: Generator, z_dist: str, batches: int, seed: int, device: torch.device):
    """uint8 image batches (128, C, S, S) of eval-mode G, from z seeded with `seed`."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        with torch.no_grad():
            yield to_uint8(G(sample_z(BN_BATCH, G.cfg.nz, z_dist, gen).to(device)))
