"""The ``LRScheduler`` callback: a learning-rate schedule stepped by the
trainer, per epoch or per optimiser step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from seqmodels.training._monitor import figure
from seqmodels.training.hooks import Callback

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = ["LRScheduler"]


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
            self.scheduler.step(figure(logs, monitor, "LRScheduler"))
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
