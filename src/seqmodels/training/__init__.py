"""Training: the Trainer, its data, callbacks and checkpoints, and the History
it returns."""

from seqmodels.training.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    LRScheduler,
    ProgressBar,
    StopWhenReproduced,
)
from seqmodels.training.checkpoint import CheckpointError, load_checkpoint
from seqmodels.training.data import (
    Batch,
    SequenceDataset,
    TokenWindows,
    pad_batch,
    split_validation,
)
from seqmodels.training.history import History
from seqmodels.training.runtime import ThreadsWarning
from seqmodels.training.trainer import Trainer, resolve_device

__all__ = [
    "Batch",
    "Callback",
    "Checkpoint",
    "CheckpointError",
    "EarlyStopping",
    "History",
    "LRScheduler",
    "ProgressBar",
    "SequenceDataset",
    "StopWhenReproduced",
    "ThreadsWarning",
    "TokenWindows",
    "Trainer",
    "load_checkpoint",
    "pad_batch",
    "resolve_device",
    "split_validation",
]
