"""The ``Checkpoint`` callback: when to save a resumable checkpoint.

It decides when (every few epochs, when a figure improves, on Ctrl-C) and
where (``last.pt``, ``best.pt``); the trainer gathers the state
(``state.py``) and ``checkpoint.py`` writes the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqmodels.training._monitor import Best, figure, resolve_mode
from seqmodels.training.hooks import Callback

if TYPE_CHECKING:
    from seqmodels.training.trainer import Trainer

__all__ = ["Checkpoint"]


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
        resolve_mode(monitor or "", mode, "Checkpoint")
        self.every = every
        self._best: Best | None = None
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
            value = figure(logs, monitor, "Checkpoint")
            if self._best is None:
                self._best = Best(resolve_mode(monitor, self.mode, "Checkpoint"), 0)
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
            self._best = Best(str(state["mode"]), 0)
            self._best.load_state_dict(state["best"])
