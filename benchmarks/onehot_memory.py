"""One-hot models with a growing vocabulary: peak memory of a training step.

A ``SequenceModel(OneHotEmbedding(V), LSTMCell(V, H))`` never builds the
``[B, T, V]`` one-hot tensor: the input product is a column lookup. What still
grows with ``V`` is the weights (with their gradients and Adam's two moments)
and the head's logits ``[B, T, V]`` (with softmax and gradient). The row
reports what one step adds to the memory of the model and its optimiser
(forward plus backward, and the whole step with Adam), the weights, the
logits' share, and, for scale, the one-hot tensor that is never built.
"""

from __future__ import annotations

from typing import Any

import torch
from _common import Level, interleaved, peak_memory_mb, synchronize

from seqmodels import LSTMCell, OneHotEmbedding, SequenceModel, sequence_cross_entropy

__all__ = ["run"]

MB = 2**20


def run(level: Level, device: torch.device) -> list[dict[str, Any]]:
    """One row per vocabulary size."""
    if level == "smoke":
        vocab_sizes, (b, t, h) = [50, 100], (2, 5, 8)
    else:
        vocab_sizes, (b, t, h) = [1_000, 10_000, 50_000], (4, 32, 64)
    repeats = 1 if level == "smoke" else 3
    return [_row(vocab, b, t, h, repeats, device) for vocab in vocab_sizes]


def _row(
    vocab: int, b: int, t: int, h: int, repeats: int, device: torch.device
) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    model = SequenceModel(
        OneHotEmbedding(vocab),
        LSTMCell(vocab, h, generator=gen),
        vocab_size=vocab,
        generator=gen,
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ids = torch.randint(vocab, (b, t + 1), generator=gen).to(device)

    def forward_backward() -> None:
        logits, _ = model(ids[:, :-1])
        loss = sequence_cross_entropy(logits, ids[:, 1:])
        loss.backward()
        synchronize(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=False)
        forward_backward()
        optimizer.step()
        synchronize(device)

    seconds = interleaved({"step": step}, repeats)["step"]
    # Gradients and Adam's moments exist by now: the peaks are what a step
    # adds on top of the model and its optimiser.
    peak_fb = peak_memory_mb(forward_backward, device)
    peak_step = peak_memory_mb(step, device)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    logits = 3 * b * t * vocab * 4 / MB  # logits, softmax, their gradient
    return {
        "V": vocab,
        "B": b,
        "T": t,
        "H": h,
        "step_ms": seconds * 1e3,
        "weights_mb": params / MB,
        "forward_backward_peak_mb": peak_fb,
        "train_step_peak_mb": peak_step,
        "logits_mb": logits,
        "one_hot_never_built_mb": b * t * vocab * 4 / MB,
    }
