"""Checkpoint files: written atomically, read without running code.

A checkpoint is one file written by ``torch.save`` that holds only tensors and
plain data (dicts, lists, numbers, strings): the model's and optimiser's state,
the schedule's, the random states, the position in the data and the history.
It is read with ``torch.load(weights_only=True)``, which refuses any other
pickled object, so loading a file never runs code from it; tensors saved on a
GPU load onto the CPU.

Writing goes to a temporary file in the same folder, which is flushed, synced
to disk and then renamed over the old checkpoint: a process killed during a
save leaves the previous checkpoint whole (and perhaps a stray ``.tmp`` file).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "atomic_save",
    "check_state_dict",
    "load_checkpoint",
    "read_tensors",
]

FORMAT = "seqmodels.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, truncated, holding code, of
    another format, or of another model shape."""


def atomic_save(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``data`` with ``torch.save`` to ``path`` atomically; returns the path.

    The file appears whole or not at all: a temporary file in the same folder
    is written, flushed and synced, then renamed over ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(fd, "wb") as file:
            torch.save(dict(data), file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)
    return target


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_tensors(path: str | os.PathLike[str], component: str) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with clear
    errors: ``CheckpointError`` for a missing, corrupt, truncated or unsafe file.
    """
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{component}: no file at {source}")
    try:
        with warnings.catch_warnings():
            # A clear error follows if the protocol matters; no warning first.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "GLOBAL" in str(error):
            raise CheckpointError(
                f"{component}: refused to load {source}: it holds pickled objects"
                " other than tensors and plain data, and loading them could run"
                " code. seqmodels never unpickles arbitrary objects; load only"
                " files that seqmodels wrote"
            ) from None
        raise CheckpointError(
            f"{component}: cannot read {source}: the file is truncated or corrupt,"
            " or holds pickled data other than tensors (refused: seqmodels never"
            " unpickles arbitrary objects)"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise CheckpointError(
            f"{component}: cannot read {source}: the file is truncated or corrupt"
            f" ({type(error).__name__}: {error})"
        ) from None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by the Trainer, on the CPU, checking its format.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
    >>> _ = atomic_save({"format": FORMAT, "version": VERSION, "epoch": 3}, path)
    >>> load_checkpoint(path)["epoch"]
    3
    """
    data = read_tensors(path, "load_checkpoint")
    if (
        not isinstance(data, dict)
        or data.get("format") != FORMAT
        or data.get("version") != VERSION
    ):
        got = (
            f"format {data.get('format')!r} version {data.get('version')!r}"
            if isinstance(data, dict)
            else f"a {type(data).__name__}"
        )
        raise CheckpointError(
            f"load_checkpoint: {path} is not a seqmodels checkpoint: expected"
            f" format {FORMAT!r} version {VERSION}, got {got}"
        )
    return data


def check_state_dict(
    model: nn.Module, state: Mapping[str, Any], source: str, component: str
) -> None:
    """Raise ``CheckpointError`` naming the first parameter that is missing,
    extra, or of another shape in ``state`` than in ``model``."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{component}: {source} holds no model weights")
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in state:
            raise CheckpointError(
                f"{component}: {source} has no parameter {name!r}; it was saved"
                " from another model"
            )
        saved = state[name]
        if not isinstance(saved, Tensor) or saved.shape != tensor.shape:
            shape = list(saved.shape) if isinstance(saved, Tensor) else saved
            raise CheckpointError(
                f"{component}: parameter {name!r} has shape {shape} in {source}"
                f" but {list(tensor.shape)} in the model; the checkpoint is of"
                " another model shape"
            )
    extra = sorted(set(state) - set(own))
    if extra:
        raise CheckpointError(
            f"{component}: {source} has parameter {extra[0]!r} that the model"
            " lacks; it was saved from another model"
        )
