"""Callbacks: code that runs at fixed points of ``Trainer.fit``, all in one
import.

The hook points and their arguments are ``Callback``'s (``hooks.py``). The
built-in callbacks each live in the module of their concept and are gathered
here:

- ``EarlyStopping`` and ``StopWhenReproduced``, which end training
  (``stopping.py``);
- ``Checkpoint``, which saves resumable checkpoints (``checkpointing.py``);
- ``LRScheduler``, which steps a learning-rate schedule (``schedules.py``);
- ``ProgressBar``, which reports progress (this module).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

from seqmodels.training.checkpointing import Checkpoint
from seqmodels.training.history import History
from seqmodels.training.hooks import Callback
from seqmodels.training.schedules import SCHEDULES as SCHEDULES
from seqmodels.training.schedules import LRScheduler
from seqmodels.training.stopping import EarlyStopping, StopWhenReproduced
from seqmodels.training.stopping import reproduces as reproduces

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = [
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "LRScheduler",
    "ProgressBar",
    "StopWhenReproduced",
]

logger = logging.getLogger("seqmodels.training")


class ProgressBar(Callback):
    """Shows progress: a ``tqdm`` bar when tqdm is installed (the
    ``seqmodels[progress]`` extra) and standard error is a terminal, else one
    ``logging`` line at INFO every ``every`` epochs on ``seqmodels.training``.
    Under ``torch.distributed`` only rank 0 reports.

    >>> ProgressBar(every=5).every
    5
    """

    def __init__(self, every: int = 10, *, force_bar: bool = False) -> None:
        self.every = every
        self.force_bar = force_bar
        self._bar: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self._bar = None
        if not trainer.is_main_process:
            return
        if not (self.force_bar or sys.stderr.isatty()):
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self._bar = tqdm(total=trainer.epochs, unit="epoch", leave=False)

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        if not trainer.is_main_process:
            return
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{logs['loss']:.4f}")
        elif epoch % self.every == 0 or epoch == trainer.epochs:
            validation = ""
            if "val_loss" in logs:
                validation = f" | val_loss {logs['val_loss']:.4f}"
            logger.info(
                "epoch %d/%d | loss %.4f | accuracy %.3f%s | %.2f s",
                epoch,
                trainer.epochs,
                logs["loss"],
                logs["accuracy"],
                validation,
                logs["seconds"],
            )

    def on_interrupt(self, trainer: Trainer) -> None:
        self.on_fit_end(trainer, trainer.history)

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
