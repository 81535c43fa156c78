"""Where a training run stands, captured for a checkpoint and put back on
resume.

``Progress`` is the position: the epoch in progress, the batches done in it,
the optimiser steps done, the epoch's sums so far and the seconds spent.
``capture`` gathers it with everything else a resumed run needs (weights,
optimiser, scaler, callbacks' states, random states, history) as tensors and
plain data; ``restore`` puts a checkpoint's back. The file format itself is
``checkpoint.py``'s.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqmodels.training.callbacks import Callback, Checkpoint
from seqmodels.training.checkpoint import (
    FORMAT,
    VERSION,
    CheckpointError,
    check_state_dict,
    load_checkpoint,
)
from seqmodels.training.history import History

__all__ = ["Progress", "capture", "find_checkpoint", "keyed_callbacks", "restore"]

logger = logging.getLogger("seqmodels.training")


@dataclass
class Progress:
    """The position of a run: ``epoch`` in progress (from 1), ``batch``es done
    in it, optimiser ``step``s done, the epoch's ``sums`` so far (loss times
    tokens, correct predictions, tokens) and the ``seconds`` spent.

    >>> Progress()
    Progress(epoch=1, batch=0, step=0, sums=[0.0, 0.0, 0.0], seconds=0.0)
    """

    epoch: int = 1
    batch: int = 0
    step: int = 0
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    seconds: float = 0.0


def keyed_callbacks(callbacks: Iterable[Callback]) -> Iterator[tuple[str, Callback]]:
    """Callbacks with state, under keys stable from run to run
    (``"EarlyStopping.1"``: the first of its class)."""
    seen: dict[str, int] = {}
    for cb in callbacks:
        if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict"):
            name = type(cb).__name__
            seen[name] = seen.get(name, 0) + 1
            yield f"{name}.{seen[name]}", cb


def capture(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    callbacks: Iterable[Callback],
    progress: Progress,
    history: History,
    seed: int,
    device: torch.device,
    generator: torch.Generator | None,
) -> dict[str, Any]:
    """Everything a resumed run needs, as tensors and plain data (the weights
    on the CPU)."""
    rng: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        rng["generator"] = generator.get_state()
    states = {}
    for key, cb in keyed_callbacks(callbacks):
        states[key] = cb.state_dict()  # type: ignore[attr-defined]
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scaler": None if scaler is None else scaler.state_dict(),
        "epoch": progress.epoch,
        "batch": progress.batch,
        "step": progress.step,
        "sums": list(progress.sums),
        "seconds": progress.seconds,
        "seed": seed,
        "rng": rng,
        "history": history.to_dict(),
        "callbacks": states,
    }


def find_checkpoint(
    resume: object, callbacks: Iterable[Callback], model: nn.Module
) -> tuple[dict[str, Any], str] | None:
    """The checkpoint ``fit(resume=...)`` asks for, read and checked against
    the model, with its path; ``None`` to train from the start."""
    if resume is None or resume is False:
        return None
    if resume is True:
        found = [cb for cb in callbacks if isinstance(cb, Checkpoint)]
        if not found:
            raise ValueError(
                "Trainer: resume=True needs a Checkpoint callback; give the"
                " checkpoint's path instead"
            )
        path = found[0].last_path
        if not path.is_file():
            logger.info("no checkpoint at %s; training from the start", path)
            return None
    elif isinstance(resume, str | os.PathLike):
        path = Path(resume)
        if path.is_dir():
            path = path / "last.pt"
    else:
        raise TypeError(
            f"Trainer: resume must be a path, True or None, got {type(resume).__name__}"
        )
    data = load_checkpoint(path)
    check_state_dict(model, data.get("model", {}), str(path), "Trainer")
    return data, str(path)


def restore(
    data: dict[str, Any],
    source: str,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    callbacks: Iterable[Callback],
    device: torch.device,
    generator: torch.Generator | None,
) -> tuple[Progress, History]:
    """Put the training state of checkpoint ``data`` (read from ``source``)
    back into the model, optimiser, scaler, callbacks and random states;
    returns the position and the history to continue from."""
    model.load_state_dict(data["model"])
    try:
        optimizer.load_state_dict(data["optimizer"])
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(
            f"Trainer: the optimiser state in {source} does not fit this"
            f" optimiser ({error})"
        ) from None
    if scaler is not None and data.get("scaler"):
        scaler.load_state_dict(data["scaler"])
    states = data.get("callbacks", {})
    for key, cb in keyed_callbacks(callbacks):
        if key in states:
            cb.load_state_dict(states[key])  # type: ignore[attr-defined]
        else:
            logger.warning("checkpoint %s holds no state for %s", source, key)

    # The random states, then the position and the history.
    rng = data["rng"]
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
    if "generator" in rng and generator is not None:
        generator.set_state(rng["generator"])
    progress = Progress(
        epoch=int(data["epoch"]),
        batch=int(data["batch"]),
        step=int(data["step"]),
        sums=[float(s) for s in data["sums"]],
        seconds=float(data["seconds"]),
    )
    history = History.from_dict(data["history"])
    history.stop_reason = None
    logger.info(
        "resumed from %s at epoch %d, batch %d", source, progress.epoch, progress.batch
    )
    return progress, history
