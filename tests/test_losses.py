"""Sequence losses: the vocabulary axis is the class axis."""

from __future__ import annotations

import math

import pytest
import torch

from seqmodels import sequence_accuracy, sequence_cross_entropy


def test_cross_entropy_uses_the_vocabulary_axis() -> None:
    # B=1, T=3, V=2; written so that T-as-classes would give another number.
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]]])
    targets = torch.tensor([[0, 0, 0]])
    by_hand = [
        math.log(2.0),  # softmax([0, 0])[0] = 1/2
        math.log(1 + math.exp(-2.0)),  # -log(e^2 / (e^2 + 1))
        math.log(1 + math.exp(3.0)),  # -log(1 / (1 + e^3))
    ]
    loss = sequence_cross_entropy(logits, targets)
    assert loss.item() == pytest.approx(sum(by_hand) / 3, abs=1e-6)


def test_cross_entropy_ignores_padding() -> None:
    logits = torch.tensor([[[0.0, 0.0], [5.0, 0.0]]])
    loss = sequence_cross_entropy(logits, torch.tensor([[0, -100]]))
    assert loss.item() == pytest.approx(math.log(2.0), abs=1e-6)


def test_accuracy() -> None:
    logits = torch.tensor([[[0.0, 1.0], [2.0, 0.0], [0.0, 1.0]]])
    assert sequence_accuracy(logits, torch.tensor([[1, 1, -100]])).item() == 0.5


def test_bad_shapes_and_dtypes() -> None:
    with pytest.raises(
        ValueError, match=r"expected logits \[B, T, V\] and targets \[B, T\]"
    ):
        sequence_cross_entropy(
            torch.zeros(2, 3, 4), torch.zeros(2, 4, dtype=torch.long)
        )
    with pytest.raises(TypeError, match="expected integer targets"):
        sequence_cross_entropy(torch.zeros(2, 3, 4), torch.zeros(2, 3))
