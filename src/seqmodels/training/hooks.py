"""The hook points of ``Trainer.fit``: the ``Callback`` base class.

A callback is any object with some of the methods of ``Callback``; subclass it
to get no-op defaults for the rest. To end training, a callback calls
``trainer.stop(reason)``; the epoch in progress finishes first. A callback with
``state_dict()`` and ``load_state_dict(state)`` has its state saved in
checkpoints and restored on resume.

The built-in callbacks live next to this module and are gathered in
``callbacks.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqmodels.training.history import History

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = ["Callback"]


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
