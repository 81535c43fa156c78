"""Callbacks: code that runs at fixed points of ``Trainer.fit``.

A callback is any object with some of the methods of ``Callback``; subclass it
to get no-op defaults for the rest. To end training, a callback calls
``trainer.stop(reason)``; the epoch in progress finishes first. A callback with
``state_dict()`` and ``load_state_dict(state)`` has its state saved in
checkpoints and restored on resume.

Built in: ``EarlyStopping``, ``Checkpoint``, ``LRScheduler``, ``ProgressBar``
and ``StopWhenReproduced``.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from seqmodels.training.history import History

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


class Callback:
    """The points of ``Trainer.fit`` a callback can act at; each does nothing
    here.

    ``logs`` holds the figures so far: ``loss`` and ``accuracy`` for a batch;
    ``epoch``, ``loss``, ``accuracy``, ``perplexity``, ``seconds`` (and
    ``val_loss``, ``val_accuracy``, ``val_perplexity`` with validation data)
    for an epoch.

    >>> class Count(Callback):
    ...     def on_epoch_end(self, trainer, epoch, logs):
    ...         logs["twice"] = 2 * epoch
    >>> Count().order
    0
    """

    order: int = 0
    """Callbacks with a higher order run later at each point (stable sort)."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Before each epoch; ``epoch`` counts from 1."""

    def on_batch_start(self, trainer: Trainer, step: int) -> None:
        """Before each optimiser step; ``step`` counts from 1 over the run."""

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """After each optimiser step, with its ``loss`` and ``accuracy``."""

    def on_validation_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        """After the validation of an epoch, with the epoch's figures so far."""

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        """After each epoch, with its figures (a callback may add to them)."""

    def on_interrupt(self, trainer: Trainer) -> None:
        """After Ctrl-C stopped training at the end of a step."""

    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """After the last epoch, also when training stopped early."""


def _resolve_mode(monitor: str, mode: str, component: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` is ``"max"`` for accuracies."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"{component}: mode must be 'auto', 'min' or 'max', got {mode!r}"
        )
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor or monitor == "reproduced" else "min"


def _figure(logs: dict[str, float], monitor: str, component: str) -> float:
    """The monitored figure of an epoch, or a clear error."""
    if monitor not in logs:
        raise ValueError(
            f"{component}: no figure named {monitor!r} in the epoch's logs; it has"
            f" {sorted(logs)} (give fit validation data for 'val_*' figures)"
        )
    return float(logs[monitor])


class _Best:
    """The best value of a figure so far, for early stopping and checkpoints."""

    def __init__(self, mode: str, min_delta: float) -> None:
        self.mode, self.min_delta = mode, min_delta
        self.value = math.inf if mode == "min" else -math.inf
        self.epoch = 0

    def improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.value - self.min_delta
        return value > self.value + self.min_delta

    def state_dict(self) -> dict[str, float]:
        return {"value": self.value, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.epoch = float(state["value"]), int(state["epoch"])


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
        self.mode = _resolve_mode(monitor, mode, "EarlyStopping")
        self.patience = patience
        self.min_delta = min_delta
        self.restore_best = restore_best
        self._best = _Best(self.mode, min_delta)
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
        self._best = _Best(self.mode, self.min_delta)
        self._wait = 0
        self._weights = None

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        value = _figure(logs, self.monitor, "EarlyStopping")
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


class Checkpoint(Callback):
    """Saves resumable checkpoints: ``last.pt`` after every ``every`` epochs
    (and on Ctrl-C), ``best.pt`` whenever the monitored figure improves.

    Each file holds the whole training state (``Trainer.save_checkpoint``) and
    is written atomically. Only rank 0 writes under ``torch.distributed``. It
    runs after the other callbacks (``order = 100``), so that the saved state
    includes what they did at the end of the epoch.
    Resume with ``trainer.fit(..., resume=directory)`` (or ``resume=True``).

    Args:
        directory: the folder for the files (created if needed).
        monitor: the figure for ``best.pt``; ``"auto"`` is ``val_loss`` when
            the epoch has it, else ``loss``; ``None`` saves no best.
        mode: ``"min"``, ``"max"`` or ``"auto"``, as in ``EarlyStopping``.
        every: save ``last.pt`` every this many epochs (and after the last).

    >>> import tempfile
    >>> Checkpoint(tempfile.mkdtemp()).last_path.name
    'last.pt'
    """

    order = 100

    def __init__(
        self,
        directory: str | Path,
        *,
        monitor: str | None = "auto",
        mode: str = "auto",
        every: int = 1,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"Checkpoint: every must be a positive int, got {every!r}")
        self.directory = Path(directory)
        self.monitor = monitor
        self.mode = mode
        _resolve_mode(monitor or "", mode, "Checkpoint")
        self.every = every
        self._best: _Best | None = None
        self._saved_epoch = 0

    @property
    def last_path(self) -> Path:
        """Where the latest checkpoint goes."""
        return self.directory / "last.pt"

    @property
    def best_path(self) -> Path:
        """Where the best checkpoint goes."""
        return self.directory / "best.pt"

    def on_fit_start(self, trainer: Trainer) -> None:
        self._best = None
        self._saved_epoch = 0

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        if self.monitor is not None:
            monitor = self.monitor
            if monitor == "auto":
                monitor = "val_loss" if "val_loss" in logs else "loss"
            value = _figure(logs, monitor, "Checkpoint")
            if self._best is None:
                self._best = _Best(_resolve_mode(monitor, self.mode, "Checkpoint"), 0)
            if self._best.improves(value):
                self._best.value, self._best.epoch = value, epoch
                if trainer.is_main_process:
                    trainer.save_checkpoint(self.best_path)
        last = epoch == trainer.epochs or trainer.stop_reason is not None
        if epoch % self.every == 0 or last:
            self._save_last(trainer, epoch)

    def on_interrupt(self, trainer: Trainer) -> None:
        if trainer.is_main_process:
            trainer.save_checkpoint(self.last_path)

    def _save_last(self, trainer: Trainer, epoch: int) -> None:
        self._saved_epoch = epoch
        if trainer.is_main_process:
            trainer.save_checkpoint(self.last_path)

    def state_dict(self) -> dict[str, Any]:
        best = None if self._best is None else self._best.state_dict()
        return {"best": best, "mode": None if self._best is None else self._best.mode}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("best") is not None:
            self._best = _Best(str(state["mode"]), 0)
            self._best.load_state_dict(state["best"])


SCHEDULES: dict[str, Callable[..., Any]] = {
    "step": torch.optim.lr_scheduler.StepLR,
    "exponential": torch.optim.lr_scheduler.ExponentialLR,
    "cosine": torch.optim.lr_scheduler.CosineAnnealingLR,
    "linear": torch.optim.lr_scheduler.LinearLR,
    "plateau": torch.optim.lr_scheduler.ReduceLROnPlateau,
}


class LRScheduler(Callback):
    """Steps a learning-rate schedule, per epoch or per optimiser step, and adds
    the epoch's learning rate to its logs as ``lr``.

    Args:
        schedule: a name (``"step"``, ``"exponential"``, ``"cosine"``,
            ``"linear"``, ``"plateau"``) with the torch scheduler's keyword
            arguments in ``options``, or a function from the trainer's optimiser
            to a ``torch.optim.lr_scheduler`` object. ``"cosine"`` per epoch
            defaults ``T_max`` to the run's epochs; per step, give ``T_max``.
        interval: ``"epoch"`` or ``"step"``.
        monitor: the figure ``"plateau"`` watches (default ``val_loss`` when
            the epoch has it, else ``loss``).

    >>> LRScheduler("step", step_size=10, gamma=0.5).interval
    'epoch'
    """

    def __init__(
        self,
        schedule: str | Callable[[torch.optim.Optimizer], Any],
        *,
        interval: str = "epoch",
        monitor: str = "auto",
        **options: Any,
    ) -> None:
        if isinstance(schedule, str) and schedule not in SCHEDULES:
            raise ValueError(
                f"LRScheduler: unknown schedule {schedule!r}; expected one of"
                f" {sorted(SCHEDULES)} or a function of the optimiser"
            )
        if not isinstance(schedule, str) and not callable(schedule):
            raise TypeError(
                "LRScheduler: schedule must be a name or a function of the"
                f" optimiser, got {type(schedule).__name__}"
            )
        if interval not in ("epoch", "step"):
            raise ValueError(
                f"LRScheduler: interval must be 'epoch' or 'step', got {interval!r}"
            )
        self.schedule = schedule
        self.interval = interval
        self.monitor = monitor
        self.options = options
        self.scheduler: Any = None
        self._lr = 0.0

    def on_fit_start(self, trainer: Trainer) -> None:
        if isinstance(self.schedule, str):
            options = dict(self.options)
            if self.schedule == "cosine" and "T_max" not in options:
                if self.interval == "step":
                    raise ValueError(
                        "LRScheduler: 'cosine' per step needs T_max (the number of"
                        " steps to anneal over)"
                    )
                options["T_max"] = trainer.epochs
            self.scheduler = SCHEDULES[self.schedule](trainer.optimizer, **options)
        else:
            self.scheduler = self.schedule(trainer.optimizer)
        if not hasattr(self.scheduler, "step"):
            raise TypeError(
                "LRScheduler: the schedule function must return a scheduler with"
                f" step(), got {type(self.scheduler).__name__}"
            )

    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        self._lr = float(trainer.optimizer.param_groups[0]["lr"])

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        if self.interval == "step" and not self._plateau:
            self.scheduler.step()

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, float]
    ) -> None:
        logs["lr"] = self._lr
        if self._plateau:
            monitor = self.monitor
            if monitor == "auto":
                monitor = "val_loss" if "val_loss" in logs else "loss"
            self.scheduler.step(_figure(logs, monitor, "LRScheduler"))
        elif self.interval == "epoch":
            self.scheduler.step()

    @property
    def _plateau(self) -> bool:
        return isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


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
