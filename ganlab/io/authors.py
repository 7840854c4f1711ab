"""The DCGAN authors' released model folders (Newmu/dcgan_code, `models/<name>/`), read safely.

A folder holds, for each saved epoch N, `N_gen_params.jl` and `N_discrim_params.jl`: pickles
written by an old joblib (protocol 2) whose only content is a list of `NDArrayWrapper`
objects, each naming one `.npy` file (`N_gen_params.jl_01.npy`, ...) in parameter order.

Nothing here unpickles. The index is parsed with `pickletools.genops`, which only decodes
opcodes: the parser admits the handful of opcodes such a list is made of and the two globals
it names (the wrapper class and `numpy.ndarray`), and refuses anything else (a `REDUCE`, any
other global) before a single array is read. Every array is then read with
`numpy.load(allow_pickle=False)`.
"""

from __future__ import annotations

import pickletools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganlab.errors import CheckpointError
from ganlab.io.checkpoint import file_sha256

NETS = ("gen", "discrim")  # `N_gen_params.jl`, `N_discrim_params.jl`

# What an old-joblib list of NDArrayWrapper objects is made of: containers, memo, strings,
# booleans and building an object from a class and a state dict (NEWOBJ + BUILD). No REDUCE,
# INST or OBJ: those call arbitrary callables.
_ALLOWED_OPCODES = frozenset(
    {
        "PROTO", "FRAME", "STOP", "MARK", "EMPTY_LIST", "EMPTY_TUPLE", "EMPTY_DICT",
        "APPEND", "APPENDS", "SETITEM", "SETITEMS", "BUILD", "NEWOBJ", "GLOBAL",
        "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET", "MEMOIZE", "NEWTRUE", "NEWFALSE",
        "NONE", "BININT", "BININT1", "BININT2", "SHORT_BINSTRING", "BINSTRING",
        "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "TUPLE1", "TUPLE2", "TUPLE3",
    }
)  # fmt: skip
_ALLOWED_GLOBALS = frozenset(
    {
        "sklearn.externals.joblib.numpy_pickle NDArrayWrapper",  # the authors' joblib
        "joblib.numpy_pickle NDArrayWrapper",  # the same class in a standalone joblib
        "numpy ndarray",  # the wrapper's `subclass` field
    }
)


@dataclass(frozen=True)
class AuthorsFolder:
    """One epoch of an authors' model folder: its index files and the arrays they name."""

    path: Path
    epoch: int

    def index(self, net: str) -> Path:
        """The `.jl` index of `net` ("gen" or "discrim")."""
        return self.path / f"{self.epoch}_{net}_params.jl"

    def array_names(self, net: str) -> list[str]:
        """The `.npy` file names the index of `net` lists, in parameter order."""
        return read_index(self.index(net))

    def files(self) -> list[Path]:
        """Every file this epoch is made of: both indexes and all their arrays."""
        out = []
        for net in NETS:
            out.append(self.index(net))
            out += [self.path / name for name in self.array_names(net)]
        return out

    def sha256s(self) -> dict[str, str]:
        """{file name: SHA256 of its bytes} for `files()`, to record where a run came from."""
        return {f.name: file_sha256(f) for f in self.files()}


def find_epoch(folder: str | Path, epoch: int | None = None) -> AuthorsFolder:
    """The epoch of an authors' model folder to read: `epoch`, or the latest saved one.

    Raises:
        CheckpointError: no such folder, no `N_gen_params.jl` / `N_discrim_params.jl` pair in
            it, or not for `epoch`.
    """
    path = Path(folder)
    if not path.is_dir():
        raise CheckpointError(
            f"{path} is not a directory. Pass one of the authors' model folders (e.g. "
            "models/svhn_unsup_all_conv_dcgan_100z_gaussian_lr_0.0005_64mb), which holds "
            "N_gen_params.jl, N_discrim_params.jl and their .npy arrays."
        )
    epochs = sorted(
        int(m.group(1))
        for f in path.glob("*_gen_params.jl")
        if (m := re.fullmatch(r"(\d+)_gen_params\.jl", f.name))
        and (path / f"{m.group(1)}_discrim_params.jl").is_file()
    )
    if not epochs:
        raise CheckpointError(
            f"{path} holds no N_gen_params.jl with its N_discrim_params.jl: it is not one of "
            "the authors' model folders (see docs/usage.md, `ganlab import authors`)."
        )
    if epoch is None:
        return AuthorsFolder(path, epochs[-1])
    if epoch not in epochs:
        raise CheckpointError(
            f"{path} has no epoch {epoch} (saved epochs: {', '.join(map(str, epochs))}). "
            "Pass one of those to --epoch."
        )
    return AuthorsFolder(path, epoch)


def read_index(path: Path) -> list[str]:
    """The `.npy` file names a `.jl` index lists, in order, parsed without unpickling.

    Raises:
        CheckpointError: the file is missing, is not a pickle, or holds anything besides
            NDArrayWrapper objects (an opcode or global outside the allowed ones), or names
            a file outside its folder.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror or e}.") from None
    names: list[str] = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name not in _ALLOWED_OPCODES:
                raise CheckpointError(
                    f"refused {path}: its pickle uses {op.name}, which the authors' index "
                    "files do not contain. Only a list of joblib NDArrayWrapper objects naming "
                    ".npy files is read (so nothing in the file can run code); get the folder "
                    "again from the authors' repository."
                )
            if op.name == "GLOBAL" and arg not in _ALLOWED_GLOBALS:
                raise CheckpointError(
                    f"refused {path}: its pickle names {arg!r}, not joblib's NDArrayWrapper "
                    "or numpy.ndarray. Only a list of NDArrayWrapper objects naming .npy files "
                    "is read; get the folder again from the authors' repository."
                )
            if isinstance(arg, bytes):
                arg = arg.decode("latin-1")
            if isinstance(arg, str) and arg.endswith(".npy"):
                names.append(arg)
    except ValueError as e:  # genops on bytes that are not a pickle
        raise CheckpointError(f"{path} is not a joblib index pickle ({e}).") from None
    expected = re.compile(re.escape(path.name) + r"_\d+\.npy")
    bad = [n for n in names if not expected.fullmatch(n)]
    if bad or not names:
        raise CheckpointError(
            f"{path} does not list its arrays as {path.name}_NN.npy files in its own folder "
            f"(found {bad[:3] if bad else 'none'})."
        )
    return names


def load_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 array of one `.npy` file, which must have `shape`.

    Raises:
        CheckpointError: the file is missing, unreadable, holds objects (pickles), or has
            another shape or a non-float dtype; the message names the file and the shape.
    """
    if not path.is_file():
        raise CheckpointError(
            f"{path} is missing: the model needs it as a float32 array of shape {shape}. "
            "Copy the whole model folder from the authors' repository."
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(
            f"cannot read {path} as a plain .npy array of shape {shape} ({e}). "
            "Copy the file again from the authors' repository."
        ) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.shape != shape:
        got = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
        raise CheckpointError(
            f"{path} holds {got}, but the model needs a float array of shape {shape}. "
            "The folder is damaged or is not the model it looks like."
        )
    return arr.astype(np.float32, copy=False)
