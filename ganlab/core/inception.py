"""The FID Inception network: its weights found offline, loaded safely, run by torch-fidelity.

The network and its input protocol (uint8 RGB, resized to 299x299 the way TensorFlow 1 did,
scaled to [-1, 1]) are torch-fidelity's `FeatureExtractorInceptionV3`, a port of the
TensorFlow graph every published FID was computed with; ganlab writes none of it. ganlab's
part is finding and opening the weights:

1. the path given (`--inception-weights`), else `$GANLAB_INCEPTION_WEIGHTS`, else the file in
   torch-fidelity's own cache (torch hub's `checkpoints/` folder);
2. where none exists, a download into that cache, unless `$GANLAB_OFFLINE=1`; offline, an
   error naming the file, its URL, its SHA-256 and where to put it;
3. the file is opened with `torch.load(weights_only=True)` (or as safetensors) and must be a
   plain state dict of tensors. torch-fidelity's own loader unpickles with
   `weights_only=False`, which can run code from the file, so it is never given the path:
   it receives the validated tensors.

A file whose SHA-256 is not the published one still works (a warning, and the protocol marks
the result non-standard): it is how the tests run offline with seeded random weights.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from ganlab.core.amp import AMP_DTYPES
from ganlab.errors import EvalError
from ganlab.io.checkpoint import file_sha256
from ganlab.io.tensorfile import load_tensor_file

INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_URL = (
    f"https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/{INCEPTION_FILE}"
)
INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
INCEPTION_MB = 95.6  # 95,628,359 bytes
WEIGHTS_ENV = "GANLAB_INCEPTION_WEIGHTS"
OFFLINE_ENV = "GANLAB_OFFLINE"
EXTRACTOR = "inception-v3-compat"  # torch-fidelity's name for the TF FID Inception
FEATURES = "2048"  # pool3: FID, KID, precision/recall
LOGITS = "logits_unbiased"  # Inception Score (torch-fidelity's choice, as the TF IS code)
INPUT = "uint8 RGB; grey replicated to 3 channels"
RESIZE = "bilinear to 299x299 as TensorFlow 1 does (torch-fidelity's TF1-compatible resize)"
INSTALL = "pip install 'ganlab[eval]' (or: pip install torch-fidelity)"


def require_torch_fidelity():
    """The torch_fidelity module, or an EvalError saying how to install it."""
    try:
        import torch_fidelity
    except ImportError:
        raise EvalError(
            "the image-quality metrics (FID, KID, IS, precision/recall) need torch-fidelity, "
            f"which is not installed. Install it with: {INSTALL}"
        ) from None
    return torch_fidelity


def fidelity_version() -> str:
    """torch-fidelity's version, for protocols and cache keys."""
    return require_torch_fidelity().__version__


def library_cache_path() -> Path:
    """Where torch-fidelity itself keeps the weights (torch hub's checkpoints folder)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def resolve_weights_path(path: str | Path | None = None, progress: bool = False) -> Path:
    """The Inception weights file to use, in the documented order (module docstring).

    Args:
        path: `--inception-weights`, or None.
        progress: show the download's progress bar (on stderr).
    Returns:
        An existing file.
    Raises:
        EvalError: the given file does not exist, or none was found and none could be fetched.
    """
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise EvalError(f"--inception-weights {path} does not exist. {_where_to_get()}")
        return path
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise EvalError(f"${WEIGHTS_ENV} names {path}, which does not exist. {_where_to_get()}")
        return path
    cached = library_cache_path()
    if cached.is_file():
        return cached
    if _offline():
        why = f"downloading is off (${OFFLINE_ENV}=1)"
    else:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            # the full digest is also a prefix of itself: torch hub refuses a different file
            torch.hub.download_url_to_file(
                INCEPTION_URL, str(cached), hash_prefix=INCEPTION_SHA256, progress=progress
            )
            return cached
        except (OSError, RuntimeError, ValueError) as e:
            why = f"downloading it failed ({_first_line(e)})"
    raise EvalError(
        f"no Inception weights for the metrics: no --inception-weights was given, "
        f"${WEIGHTS_ENV} is not set, {cached} does not exist, and {why}. {_where_to_get()}"
    )


def _where_to_get() -> str:
    return (
        f"The metrics need {INCEPTION_FILE} ({INCEPTION_MB} MB, SHA-256 {INCEPTION_SHA256}) "
        f"from {INCEPTION_URL}: copy it to {library_cache_path()}, or pass "
        f"--inception-weights PATH (or set {WEIGHTS_ENV}=PATH)."
    )


@dataclass(frozen=True)
class InceptionWeights:
    """A validated Inception state dict and where it came from."""

    path: Path
    sha256: str
    state_dict: dict  # str -> torch.Tensor, on the CPU

    @property
    def standard(self) -> bool:
        """Whether these are the published weights (results comparable with papers)."""
        return self.sha256 == INCEPTION_SHA256

    def warning(self) -> str | None:
        """The warning for non-standard weights, or None."""
        if self.standard:
            return None
        return (
            f"{self.path} is not the published FID Inception (SHA-256 {self.sha256[:16]}..., "
            f"expected {INCEPTION_SHA256[:16]}...): the numbers are not comparable with "
            "published ones, and the protocol marks them non-standard."
        )


def load_inception_weights(path: str | Path) -> InceptionWeights:
    """Open a weights file without running code from it: tensors only, or an error.

    Args:
        path: a torch `.pth`/`.pt` state dict or a `.safetensors` file.
    Returns:
        The InceptionWeights (its SHA-256 computed from the bytes).
    Raises:
        EvalError: truncated or corrupt, holds Python objects, or is not a plain state dict.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        state = _load_safetensors(path)
    else:
        state = load_tensor_file(path, "Inception weights", EvalError, _where_to_get())
    if not isinstance(state, Mapping) or not state:
        raise EvalError(
            f"{path} is not a plain state dict (a mapping of parameter names to tensors) but "
            f"{type(state).__name__}. {_where_to_get()}"
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise EvalError(
            f"{path} is not a plain state dict: {str(bad[0])[:80]!r} is not a tensor entry. "
            f"{_where_to_get()}"
        )
    return InceptionWeights(path=path, sha256=file_sha256(path), state_dict=dict(state))


def _load_safetensors(path: Path) -> dict:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise EvalError(
            f"{path} is a safetensors file; install safetensors (pip install safetensors) or "
            "use the .pth file."
        ) from None
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors reports damage with its own error types
        raise _corrupt(path, e) from None


def _corrupt(path: Path, e: BaseException) -> EvalError:
    return EvalError(
        f"cannot read Inception weights {path}: the file is truncated or corrupt "
        f"({_first_line(e)}). Download it again. {_where_to_get()}"
    )


class InceptionExtractor:
    """torch-fidelity's FID Inception, built from validated weights, on one device.

    Calling it on uint8 images (B, C, S, S) of any size 16..256 returns float32 CPU features
    {FEATURES: (B, 2048), LOGITS: (B, 1008)}; grey images are replicated to RGB first. `amp`
    ("off", "bf16", "fp16": a resolved core.amp choice) runs the network under autocast;
    the features come back float32 either way.
    """

    def __init__(
        self,
        weights: InceptionWeights,
        device: str | torch.device = "cpu",
        features: tuple[str, ...] = (FEATURES, LOGITS),
        amp: str = "off",
    ):
        require_torch_fidelity()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # torch-fidelity reads its weights with torch.load(weights_only=False). It gets bytes
        # ganlab serialised from the tensors validated above, never the user's file.
        buffer = io.BytesIO()
        torch.save(weights.state_dict, buffer)
        buffer.seek(0)
        try:
            net = FeatureExtractorInceptionV3(
                EXTRACTOR, list(features), feature_extractor_weights_path=buffer
            )
        except RuntimeError as e:
            raise EvalError(
                f"{weights.path} does not fit the FID Inception network ({_first_line(e)}). "
                f"It is some other model's state dict. {_where_to_get()}"
            ) from None
        self.net = net.to(device)
        self.device = torch.device(device)
        self.features = features
        self.weights = weights
        self.amp = amp

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dtype != torch.uint8:
            raise TypeError(f"the extractor takes uint8 images, got {images.dtype}")
        if images.shape[1] == 1:  # (B, 1, S, S) grey -> (B, 3, S, S)
            images = images.expand(-1, 3, -1, -1)
        if self.amp == "off":
            out = self.net(images.to(self.device))
        else:
            with torch.autocast(self.device.type, dtype=AMP_DTYPES[self.amp]):
                out = self.net(images.to(self.device))
        return {name: f.float().cpu() for name, f in zip(self.features, out, strict=True)}


def open_extractor(
    path: str | Path | None, device: str | torch.device = "cpu", progress: bool = False
) -> InceptionExtractor:
    """Resolve, load and build in one call (the order of the module docstring)."""
    weights = load_inception_weights(resolve_weights_path(path, progress=progress))
    return InceptionExtractor(weights, device)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def random_state_dict(seed: int = 0) -> dict:
    """A seeded state dict of the FID Inception's exact architecture, He-initialised so that
    features neither vanish nor explode through its 94 convolutions (BatchNorm: identity).

    For tests and speed benchmarks only: its metrics mean nothing. The network is built with
    torch-fidelity's own download and loading stubbed out, so nothing is fetched or read.
    """
    import math
    from unittest import mock

    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    # build the network without loading weights: its own loader is stubbed out
    with (
        mock.patch.object(tfi, "load_state_dict_from_url", lambda *a, **k: None),
        mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda *a: None),
    ):
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in net.state_dict().items():
        if name.endswith("conv.weight"):
            value = torch.randn(value.shape, generator=gen) * math.sqrt(2 / value[0].numel())
        elif name == "fc.weight":
            value = torch.randn(value.shape, generator=gen) / math.sqrt(value.shape[1])
        state[name] = value.clone()
    return state
