"""Callbacks that end training: ``EarlyStopping`` when a figure stops
improving, ``StopWhenReproduced`` when greedy generation gives back the
training sequences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from seqmodels.training._monitor import Best, figure, resolve_mode
from seqmodels.training.history import History
from seqmodels.training.hooks import Callback

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = ["EarlyStopping", "StopWhenReproduced"]


class EarlyStopping(Callback):
    """Stops training when a figure has not improved for ``patience`` epochs.

    Args:
        monitor: any figure of the epoch's logs (``"val_loss"``, ``"loss"``,
            ``"val_accuracy"``, or one a callback adds).
        mode: ``"min"``, ``"max"``, or ``"auto"`` (``"max"`` for accuracies).
        patience: epochs without improvement before stopping.
        min_delta: the least change that counts as an improvement.
        restore_best: load the best epoch's weights when training ends.

    >>> stopper = EarlyStopping("val_loss", patience=2)
    >>> stopper.mode
    'min'
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        mode: str = "auto",
        patience: int = 5,
        min_delta: float = 0.0,
        restore_best: bool = False,
    ) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(
                f"EarlyStopping: patience must be a positive int, got {patience!r}"
            )
        if not min_delta >= 0:
            raise ValueError(f"EarlyStopping: min_delta must be >= 0, got {min_delta}")
        self.monitor = monitor
        self.mode = resolve_mode(monitor, mode, "EarlyStopping")
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self._best = Best(self.mode, min_delta)
        self._wait = 0
        self._weights: dict[str, Tensor] | None = None

    @property
    def best(self) -> float:
        """The best value of the figure so far."""
        return self._best.value

    @property
    def best_epoch(self) -> int:
        """The epoch that had it (0 before the first)."""
        return self._best.epoch

    def on_fit_start(self, trainer: Trainer) -> None:
        self._best = Best(self.mode, self.min_delta)
        self._wait = 0
        self._weights = None

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        value = figure(logs, self.monitor, "EarlyStopping")
        if self._best.improves(value):
            self._best.value, self._best.epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self._weights = {
                    k: v.detach().to("cpu", copy=True)
                    for k, v in trainer.model.state_dict().items()
                }
            return
        self._wait += 1
        if self._wait >= self.patience:
            trainer.stop(
                f"early stopping: {self.monitor} has not improved for"
                f" {self.patience} epochs (best {self._best.value:.6g} at epoch"
                f" {self._best.epoch})"
            )

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        if self.restore_best and self._weights is not None:
            trainer.model.load_state_dict(self._weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self._best.state_dict(),
            "wait": self._wait,
            "weights": self._weights,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._best.load_state_dict(state["best"])
        self._wait = int(state["wait"])
        self._weights = state.get("weights")


class StopWhenReproduced(Callback):
    """Stops training once greedy generation reproduces every training sequence.

    After each epoch the model, in evaluation mode and without gradients, is
    given the first token of each sequence and fed its own highest-scoring
    prediction step by step; if every step predicts the sequence's next token,
    training stops and the epoch's record gets ``reproduced = 1``. The check
    stops at the first wrong step, so it is cheap while the model is far off.

    ``sequences`` (``[B, T]``) defaults to the ids given to ``fit``.

    >>> StopWhenReproduced().sequences is None
    True
    """

    def __init__(self, sequences: torch.Tensor | None = None) -> None:
        self.sequences = sequences
        self._source: torch.Tensor | None = None
        self._columns: list[torch.Tensor] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        if self.sequences is None and trainer.data is None:
            raise ValueError(
                "StopWhenReproduced: no sequences to reproduce; fit was given a"
                " dataset or loader, so pass StopWhenReproduced(sequences [B, T])"
            )
        self._source, self._columns = None, []

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        sequences = self.sequences if self.sequences is not None else trainer.data
        if sequences is None:
            return
        if sequences is not self._source:
            # The columns [B] on the model's device, made once per fit.
            device = next(trainer.model.parameters()).device
            self._source = sequences
            self._columns = list(sequences.to(device).unbind(1))
        if _greedy_reproduces(trainer.model, self._columns):
            logs["reproduced"] = 1.0
            trainer.stop(f"greedy generation reproduced the text at epoch {epoch}")


def reproduces(model: Any, sequences: torch.Tensor) -> bool:
    """Whether ``model``, fed its own greedy predictions from the first token
    of each row of ``sequences [B, T]``, predicts every following token."""
    device = next(model.parameters()).device
    return _greedy_reproduces(model, list(sequences.to(device).unbind(1)))


@torch.no_grad()
def _greedy_reproduces(model: Any, columns: list[torch.Tensor]) -> bool:
    """``reproduces`` for the columns ``[B]`` of the sequences, on the model's
    device; stops at the first wrong step."""
    was_training = model.training
    model.eval()
    try:
        x, state = columns[0], None
        for column in columns[1:]:
            logits, state = model.step(x, state)
            x = logits.argmax(dim=-1)
            if x.dtype == column.dtype:
                if not torch.equal(x, column):
                    return False
            elif not bool((x == column).all()):
                return False
        return True
    finally:
        model.train(was_training)
