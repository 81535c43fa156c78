"""Training: the Trainer, its callbacks and the History it returns."""

from seqmodels.training.callbacks import Callback, ProgressBar, StopWhenReproduced
from seqmodels.training.history import History
from seqmodels.training.trainer import Trainer, resolve_device

__all__ = [
    "Callback",
    "History",
    "ProgressBar",
    "StopWhenReproduced",
    "Trainer",
    "resolve_device",
]
