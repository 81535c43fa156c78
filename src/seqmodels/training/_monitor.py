"""A figure of the epoch's logs, watched for its best value.

Shared by the callbacks that act on a figure: ``EarlyStopping``,
``Checkpoint`` (for ``best.pt``) and ``LRScheduler`` (for ``"plateau"``).
Private to the training package.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Best", "figure", "resolve_mode"]


def resolve_mode(monitor: str, mode: str, component: str) -> str:
    """``"min"`` or ``"max"``; ``"auto"`` is ``"max"`` for accuracies."""
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"{component}: mode must be 'auto', 'min' or 'max', got {mode!r}"
        )
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor or monitor == "reproduced" else "min"


def figure(logs: dict[str, float], monitor: str, component: str) -> float:
    """The monitored figure of an epoch, or a clear error."""
    if monitor not in logs:
        raise ValueError(
            f"{component}: no figure named {monitor!r} in the epoch's logs; it has"
            f" {sorted(logs)} (give fit validation data for 'val_*' figures)"
        )
    return float(logs[monitor])


class Best:
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
