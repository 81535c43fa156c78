"""Losses over sequences of scores."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

__all__ = ["sequence_accuracy", "sequence_cross_entropy"]


def _check(name: str, logits: Tensor, targets: Tensor) -> None:
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"{name}: expected logits [B, T, V] and targets [B, T], got"
            f" {list(logits.shape)} and {list(targets.shape)}"
        )
    if targets.is_floating_point():
        raise TypeError(f"{name}: expected integer targets, got dtype {targets.dtype}")


def sequence_cross_entropy(
    logits: Tensor, targets: Tensor, *, ignore_index: int = -100
) -> Tensor:
    """Mean cross-entropy of ``logits [B, T, V]`` against ``targets [B, T]``.

    The class axis is ``V``, the last one; ``F.cross_entropy`` wants it second,
    and giving it ``[B, T, V]`` as is would treat ``T`` as the classes. Targets
    equal to ``ignore_index`` (padding) do not count.

    >>> import torch
    >>> logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])  # B=1, T=2, V=2
    >>> round(sequence_cross_entropy(logits, torch.tensor([[0, 0]])).item(), 4)
    0.41
    """
    _check("sequence_cross_entropy", logits, targets)
    return F.cross_entropy(
        logits.transpose(1, 2), targets.long(), ignore_index=ignore_index
    )


def sequence_accuracy(
    logits: Tensor, targets: Tensor, *, ignore_index: int = -100
) -> Tensor:
    """Fraction of positions whose highest score is the target, as a 0-d tensor.

    >>> import torch
    >>> logits = torch.tensor([[[0.0, 1.0], [2.0, 0.0]]])
    >>> sequence_accuracy(logits, torch.tensor([[1, 1]])).item()
    0.5
    """
    _check("sequence_accuracy", logits, targets)
    counted = targets != ignore_index
    hits = (logits.argmax(dim=-1) == targets) & counted
    return hits.sum() / counted.sum().clamp(min=1)
