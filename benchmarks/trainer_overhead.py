"""The Trainer's overhead per optimiser step against a hand-written torch loop.

Both train the same model (learned embedding, LSTM cell, linear head) on the
same batches of windows, in the same order, with Adam, one thread; the hand
loop does forward, loss, zero_grad, backward, step and reads the loss, as any
loop that logs it must. Printed: milliseconds per step of each and their ratio
(goal: at most 1.05). Runtime: about 20 s (``--quick``: about 5 s).

    python benchmarks/trainer_overhead.py [--quick]

``run(quick)`` returns the figures as a dict, for the benchmark runner.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from seqmodels import Embedding, LSTMCell, SequenceModel
from seqmodels.losses import sequence_cross_entropy
from seqmodels.training import TokenWindows, Trainer

__all__ = ["main", "run"]

V, E, H = 64, 32, 128
SEQ_LEN, BATCH = 64, 32


def make_model() -> SequenceModel:
    g = torch.Generator().manual_seed(0)
    return SequenceModel(Embedding(V, E, generator=g), LSTMCell(E, H, generator=g), V)


def hand_loop(model: SequenceModel, windows: torch.Tensor, epochs: int) -> float:
    """Seconds per step of the plain loop."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = 0
    start = time.perf_counter()
    for _ in range(epochs):
        for first in range(0, len(windows), BATCH):
            batch = windows[first : first + BATCH]
            logits, _ = model(batch[:, :-1])
            loss = sequence_cross_entropy(logits, batch[:, 1:])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
            steps += 1
    return (time.perf_counter() - start) / steps


def trainer_loop(model: SequenceModel, windows: TokenWindows, epochs: int) -> float:
    """Seconds per step of ``Trainer.fit`` on the same batches."""
    threads = torch.get_num_threads()  # as the runner set them, like the hand loop
    trainer = Trainer(model, lr=1e-3, device="cpu", progress=False, num_threads=threads)
    start = time.perf_counter()
    trainer.fit(windows, epochs=epochs, batch_size=BATCH, shuffle=False)
    return (time.perf_counter() - start) / trainer.global_step


def run(quick: bool = False) -> dict[str, Any]:
    """Measure both loops (best of a few alternating rounds); returns the
    figures: ``hand_ms``, ``trainer_ms`` per step and ``ratio``."""
    ids = torch.randint(
        0,
        V,
        (BATCH * SEQ_LEN * (4 if quick else 8) + 1,),
        generator=torch.Generator().manual_seed(1),
    )
    windows = TokenWindows(ids, SEQ_LEN)
    rounds, epochs = (2, 1) if quick else (3, 2)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hand_loop(make_model(), windows.windows, 1)  # warm up
        hand, trained = [], []
        for _ in range(rounds):
            hand.append(hand_loop(make_model(), windows.windows, epochs))
            trained.append(trainer_loop(make_model(), windows, epochs))
    finally:
        torch.set_num_threads(before)
    return {
        "name": "trainer_overhead",
        "hand_ms": 1e3 * min(hand),
        "trainer_ms": 1e3 * min(trained),
        "ratio": min(trained) / min(hand),
        "steps_per_round": epochs * len(range(0, len(windows), BATCH)),
        "model": f"Embedding({V}, {E}) + LSTMCell({E}, {H}), B={BATCH}, T={SEQ_LEN}",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    figures = run(quick=parser.parse_args().quick)
    print(
        f"trainer overhead | {figures['model']} | hand {figures['hand_ms']:.2f} ms/step"
        f" | trainer {figures['trainer_ms']:.2f} ms/step | ratio {figures['ratio']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
