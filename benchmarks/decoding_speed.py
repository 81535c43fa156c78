"""Decoding: time per generated token after prompts of 10, 100 and 1000 tokens.

``SequenceDecoder`` runs the prompt once and then carries the state, so the
time per new token should not depend on the prompt's length. For contrast, a
decoder that re-runs the whole prefix for every new token (what the state
saves) is timed too, in tokens per second.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch
from _common import Level, interleaved
from handwritten_seed import PREFACE

from seqmodels import (
    LSTMCell,
    OneHotEmbedding,
    SequenceDecoder,
    SequenceModel,
    WordTokenizer,
)

__all__ = ["run"]

FLAT_GOAL = 1.10  # slowest / fastest time per token over the prompt lengths


def _rerun_prefix(model: SequenceModel, prompt: list[int], new: int) -> list[int]:
    """Greedy decoding that runs the model over everything so far each time."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(new):
            logits, _ = model(torch.tensor([ids]))
            ids.append(int(logits[0, -1].argmax()))
    return ids[len(prompt) :]


def _per_token(
    decoder: SequenceDecoder, prompts: list[list[int]], new: int, repeats: int
) -> list[float]:
    """Seconds per generated token after each prompt: the median over rounds of
    (``new`` tokens minus 1 token) / (``new`` - 1). The two runs are timed back
    to back, so that the prompt's own cost cancels, and every round visits
    every prompt, so that a burst of load hits all lengths alike."""
    for prompt in prompts:
        decoder.generate_ids(prompt, new)
    differences: list[list[float]] = [[] for _ in prompts]
    for round_ in range(repeats):
        for i, prompt in enumerate(prompts):
            times = {}
            for count in (new, 1) if (round_ + i) % 2 == 0 else (1, new):
                start = time.perf_counter()
                decoder.generate_ids(prompt, count)
                times[count] = time.perf_counter() - start
            differences[i].append((times[new] - times[1]) / (new - 1))
    return [statistics.median(d) for d in differences]


def run(level: Level, device: torch.device) -> dict[str, Any]:
    """Per-token times, their spread, and tokens per second against re-running."""
    vocab, hidden = 43, 32
    gen = torch.Generator().manual_seed(0)
    model = SequenceModel(
        OneHotEmbedding(vocab),
        LSTMCell(vocab, hidden, generator=gen),
        vocab_size=vocab,
        generator=gen,
    ).to(device)
    tokenizer = WordTokenizer().fit(PREFACE)  # 43 words
    decoder = SequenceDecoder(model, tokenizer)
    smoke = level == "smoke"
    lengths = [10, 100] if smoke else [10, 100, 1000]
    new = 5 if smoke else (200 if level == "quick" else 500)
    rerun_new = 3 if smoke else 20
    repeats = 1 if smoke else (7 if level == "quick" else 15)

    prompts = [torch.randint(vocab, (n,), generator=gen).tolist() for n in lengths]
    per_tokens = _per_token(decoder, prompts, new, repeats)
    rows = []
    for length, prompt, per_token in zip(lengths, prompts, per_tokens, strict=True):
        rerun = interleaved(
            {"rerun": lambda p=prompt: _rerun_prefix(model, p, rerun_new)},
            max(1, repeats // 3),
            warmup=0,
        )["rerun"]
        rows.append(
            {
                "prompt": length,
                "ms_per_token": per_token * 1e3,
                "tokens_per_s": 1.0 / per_token,
                "rerun_tokens_per_s": rerun_new / rerun,
                "speedup": (rerun / rerun_new) / per_token,
            }
        )
    per = [row["ms_per_token"] for row in rows]
    spread = max(per) / min(per)
    return {
        "rows": rows,
        "spread": spread,
        "goal": FLAT_GOAL,
        "met": spread <= FLAT_GOAL,
        "new_tokens": new,
    }
