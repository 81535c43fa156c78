"""Callbacks: code that runs at fixed points of ``Trainer.fit``.

A callback is any object with some of the methods of ``Callback``; subclass it
to get no-op defaults for the rest. To end training, a callback calls
``trainer.stop(reason)``; the epoch in progress finishes first.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import torch

from seqmodels.training.history import History

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = ["Callback", "ProgressBar", "StopWhenReproduced"]

logger = logging.getLogger("seqmodels.training")


class Callback:
    """The points of ``Trainer.fit`` a callback can act at; each does nothing
    here.

    ``logs`` holds the figures so far: ``loss`` for a batch; ``epoch``,
    ``loss``, ``accuracy`` and ``seconds`` for an epoch.
    """

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before each epoch; ``epoch`` counts from 1."""

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """After each optimiser step; ``step`` counts from 1 over the run."""

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        """After each epoch, with its figures (a callback may add to them)."""

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """After the last epoch, also when training stopped early."""


class StopWhenReproduced(Callback):
    """Stops training once greedy generation reproduces every training sequence.

    After each epoch the model, in evaluation mode and without gradients, is
    given the first token of each sequence and fed its own highest-scoring
    prediction step by step; if every step predicts the sequence's next token,
    training stops and the epoch's record gets ``reproduced = 1``. The check
    stops at the first wrong step, so it is cheap while the model is far off.
    """

    def __init__(self, sequences: torch.Tensor | None = None) -> None:
        self.sequences = sequences

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        sequences = self.sequences
        if sequences is None:
            sequences = trainer.data
        if sequences is None or reproduces(trainer.model, sequences):
            logs["reproduced"] = 1.0
            trainer.stop(f"greedy generation reproduced the text at epoch {epoch}")


@torch.no_grad()
def reproduces(model: Any, sequences: torch.Tensor) -> bool:
    """Whether ``model``, fed its own greedy predictions from the first token
    of each row of ``sequences [B, T]``, predicts every following token."""
    device = next(model.parameters()).device
    sequences = sequences.to(device)
    was_training = model.training
    model.eval()
    try:
        x, state = sequences[:, 0], None
        for t in range(1, sequences.shape[1]):
            logits, state = model.step(x, state)
            x = logits.argmax(dim=-1)
            if not bool((x == sequences[:, t]).all()):
                return False
        return True
    finally:
        model.train(was_training)


class ProgressBar(Callback):
    """Shows progress: a ``tqdm`` bar when tqdm is installed (the
    ``seqmodels[progress]`` extra) and standard error is a terminal, else one
    ``logging`` line at INFO every ``every`` epochs on ``seqmodels.training``.
    """

    def __init__(self, every: int = 10, *, force_bar: bool = False) -> None:
        self.every = every
        self.force_bar = force_bar
        self._bar: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        self._bar = None
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
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{logs['loss']:.4f}")
        elif epoch % self.every == 0 or epoch == trainer.epochs:
            logger.info(
                "epoch %d/%d | loss %.4f | accuracy %.3f | %.2f s",
                epoch,
                trainer.epochs,
                logs["loss"],
                logs["accuracy"],
                logs["seconds"],
            )

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
