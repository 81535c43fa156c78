"""The seed task with seqmodels' Trainer, side by side with plain PyTorch.

Both sides start from the same weights (H=32, one-hot words of the preface,
Adam lr 0.01, a greedy-reproduction check after every epoch) and are timed to
the first exact reproduction, seeds interleaved. Run alone, it prints one JSON
line (the threads benchmark starts it as a child process):
``python benchmarks/seed_task.py --cell lstm --seeds 0 --threads 1``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from typing import Any

import torch
from _common import Level, add_src_to_path
from handwritten_seed import PREFACE, train_until_reproduced

add_src_to_path()

from seqmodels import (  # noqa: E402
    GRUCell,
    LSTMCell,
    OneHotEmbedding,
    RNNCell,
    SequenceModel,
    Trainer,
    WordTokenizer,
)

__all__ = ["ours_until_reproduced", "run"]

CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
GOAL = 1.2
HIDDEN = 32


def preface_ids() -> list[int]:
    """The preface's 44 word ids (V = 43), as the seed task tokenizes it."""
    return WordTokenizer().fit(PREFACE).encode(PREFACE)


def _model(kind: str, vocab: int, seed: int) -> SequenceModel:
    gen = torch.Generator().manual_seed(seed)
    cell = CELLS[kind](vocab, HIDDEN, generator=gen)
    return SequenceModel(OneHotEmbedding(vocab), cell, vocab_size=vocab, generator=gen)


def _as_handwritten(model: SequenceModel) -> dict[str, torch.Tensor]:
    """The model's weights under the plain script's names."""
    state = {f"rnn.{k}_l0": v.clone() for k, v in model.cell.state_dict().items()}
    state.update({f"head.{k}": v.clone() for k, v in model.head.state_dict().items()})
    return state


def ours_until_reproduced(
    kind: str,
    ids: list[int],
    seed: int,
    *,
    teacher_forcing: float = 1.0,
    max_epochs: int = 3000,
    num_threads: int | None = None,
) -> tuple[float, int]:
    """Seconds (wall clock around ``fit``) and epochs to reproduction."""
    model = _model(kind, max(ids) + 1, seed)
    # None: keep the threads the runner set (torch.set_num_threads).
    threads = torch.get_num_threads() if num_threads is None else num_threads
    trainer = Trainer(model, lr=0.01, seed=seed, progress=False, num_threads=threads)
    start = time.perf_counter()
    history = trainer.fit(
        ids,
        epochs=max_epochs,
        teacher_forcing=teacher_forcing,
        until_reproduced=True,
    )
    seconds = time.perf_counter() - start
    if not history.last.get("reproduced"):
        return float("inf"), history.epochs
    return seconds, history.epochs


def _side_by_side(
    kind: str,
    ids: list[int],
    seeds: list[int],
    teacher_forcing: float,
    cap: int,
    rounds: int = 1,
) -> dict[str, Any]:
    """Both sides for each seed, ``rounds`` times, interleaved; the figure is
    the median over seeds of each seed's median over rounds."""
    times: dict[str, dict[int, list[float]]] = {"ours": {}, "hand": {}}
    epochs: dict[str, dict[int, int]] = {"ours": {}, "hand": {}}
    inits = {seed: _as_handwritten(_model(kind, max(ids) + 1, seed)) for seed in seeds}

    def run_ours(seed: int) -> tuple[float, int]:
        return ours_until_reproduced(
            kind, ids, seed, teacher_forcing=teacher_forcing, max_epochs=cap
        )

    def run_hand(seed: int) -> tuple[float, int]:
        return train_until_reproduced(
            kind,
            ids,
            hidden=HIDDEN,
            seed=seed,
            init=inits[seed],
            teacher_forcing=teacher_forcing == 1.0,
            max_epochs=cap,
        )

    sides = {"ours": run_ours, "hand": run_hand}
    for round_ in range(rounds):
        for i, seed in enumerate(seeds):
            order = ["ours", "hand"] if (round_ + i) % 2 == 0 else ["hand", "ours"]
            for side in order:
                seconds, count = sides[side](seed)
                times[side].setdefault(seed, []).append(seconds)
                epochs[side][seed] = count

    def median_over_seeds(side: str) -> float:
        return statistics.median(statistics.median(t) for t in times[side].values())

    ours_s, hand_s = median_over_seeds("ours"), median_over_seeds("hand")
    finite = math.isfinite(ours_s) and math.isfinite(hand_s) and hand_s > 0
    ratio = ours_s / hand_s if finite else float("nan")
    tf = teacher_forcing == 1.0

    def ms_per_epoch(side: str) -> float:
        spent = sum(statistics.median(t) for t in times[side].values())
        return 1e3 * spent / max(sum(epochs[side].values()), 1)

    return {
        "cell": kind,
        "teacher_forcing": teacher_forcing,
        "ours_s": ours_s,
        "handwritten_s": hand_s,
        "ratio": ratio,
        "goal": GOAL if tf else None,
        "met": (ratio <= GOAL) if tf else None,
        "ours_epochs": statistics.median(epochs["ours"].values()),
        "handwritten_epochs": statistics.median(epochs["hand"].values()),
        "ours_ms_per_epoch": ms_per_epoch("ours"),
        "handwritten_ms_per_epoch": ms_per_epoch("hand"),
        "seeds": seeds,
        "rounds": rounds,
    }


def run(level: Level, device: torch.device) -> list[dict[str, Any]]:
    """Teacher forcing for RNN, LSTM, GRU (seeds 0-4), then free running."""
    ids = preface_ids()
    if level == "smoke":
        return [_side_by_side("lstm", ids, [0], 1.0, cap=2)]
    seeds = [0, 1, 2, 3, 4]
    rounds = 2 if level == "quick" else 4
    rows = [_side_by_side(k, ids, seeds, 1.0, 3000, rounds) for k in CELLS]
    free_seeds = [0, 1, 2] if level == "quick" else seeds
    rows += [_side_by_side(k, ids, free_seeds, 0.0, 1000) for k in CELLS]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--teacher-forcing", type=float, default=1.0)
    args = parser.parse_args()
    ids = preface_ids()
    results = [
        ours_until_reproduced(
            args.cell,
            ids,
            seed,
            teacher_forcing=args.teacher_forcing,
            num_threads=args.threads,
        )
        for seed in args.seeds
    ]
    seconds = statistics.median(s for s, _ in results)
    json.dump({"seconds": seconds, "epochs": [e for _, e in results]}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
