"""Greedy and sampled generation: from a model's scores to the next token.

``sample_steps`` runs ``B`` prompts through a ``SequenceModel`` once and then
carries the state forward, one ``model.step`` per new token. The other
functions take scores (logits) with the vocabulary on the last axis,
``[..., V]`` or ``[B, V]``, and can be used on their own. Each step applies
them in this order:

1. ``apply_repetition_penalty``: tokens already in the row become less likely.
2. Temperature, in ``pick_next_ids``: ``0`` is greedy; above 0 the scores
   become ``(s - max s) / τ``.
3. ``top_k_filter``: only the ``k`` highest scores stay.
4. ``top_p_filter``: only the nucleus of probability ``p`` stays.
5. A draw from ``softmax`` of what stays, in ``pick_next_ids``.

Notes:
    These functions trust their arguments (``k >= 1``, ``0 < p <= 1``,
    ``τ >= 0``, ``penalty > 0``, ids in ``[0, V)``). ``SequenceDecoder``
    checks them first and raises an error that names the option and the value.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator

import torch
from torch import Tensor

from seqmodels.decoded_text import DecodedText
from seqmodels.model import SequenceModel
from seqmodels.protocols import State

__all__ = [
    "apply_repetition_penalty",
    "pick_next_ids",
    "run_prompts",
    "sample_steps",
    "top_k_filter",
    "top_p_filter",
]


def apply_repetition_penalty(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """Scores ``[B, V]`` with the tokens marked in ``seen [B, V]`` (bool) made
    less likely: a positive score is divided by ``penalty``, another one
    multiplied by it. ``penalty = 1`` changes nothing.

    >>> import torch
    >>> seen = torch.tensor([[True, True, False]])
    >>> apply_repetition_penalty(torch.tensor([[2.0, -1.0, 2.0]]), seen, 2.0)
    tensor([[ 1., -2.,  2.]])
    """
    if penalty == 1.0:
        return logits
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """``logits [..., V]`` with all but the ``k`` highest set to ``-inf``.

    ``k`` larger than ``V`` keeps everything; ties at the boundary go to the
    lower id.

    >>> import torch
    >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0]), 2)
    tensor([-inf, 3., 2.])
    """
    k = min(k, logits.shape[-1])
    # A stable sort puts the lower id first among equal scores.
    ranked = torch.sort(logits, dim=-1, descending=True, stable=True).indices
    drop = torch.ones_like(logits, dtype=torch.bool)
    drop.scatter_(-1, ranked[..., :k], False)
    return logits.masked_fill(drop, -math.inf)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """``logits [..., V]`` with ``-inf`` outside the nucleus: the smallest set of
    the most probable tokens whose probabilities add up to at least ``p``.

    >>> import torch
    >>> probs = torch.tensor([0.1, 0.6, 0.3])
    >>> top_p_filter(probs.log(), 0.8).exp()
    tensor([0.0000, 0.6000, 0.3000])
    """
    if p >= 1.0:
        return logits
    probs = torch.softmax(logits.double(), dim=-1)
    sorted_probs, ranked = torch.sort(probs, dim=-1, descending=True, stable=True)

    # A token stays while the tokens ranked above it hold less than p, so the
    # most probable token always stays.
    mass_above = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    drop_ranked = mass_above >= p
    drop = torch.zeros_like(drop_ranked).scatter(-1, ranked, drop_ranked)
    return logits.masked_fill(drop, -math.inf)


def pick_next_ids(
    logits: Tensor,
    *,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator,
) -> Tensor:
    """The next ids ``[B]`` from scores ``logits [B, V]``.

    ``temperature = 0`` takes the highest score (the lowest id among ties)
    and draws nothing. Above 0 the scores become ``(s - max s) / τ`` in
    float64, go through ``top_k_filter`` and ``top_p_filter`` when those are
    given, and one id per row is drawn from their softmax with ``generator``.
    Subtracting the maximum first means that a tiny ``τ`` tends to greedy
    without overflow or NaN. A row whose highest score is ``inf`` or NaN (a
    broken model) stays greedy instead of drawing from NaN probabilities.

    >>> import torch
    >>> scores = torch.tensor([[1.0, 3.0, 2.0], [0.0, 0.0, 5.0]])
    >>> pick_next_ids(scores, temperature=0.0, generator=torch.Generator())
    tensor([1, 2])
    >>> pick_next_ids(scores, temperature=1.0, top_k=1, generator=torch.Generator())
    tensor([1, 2])
    """
    greedy = logits.argmax(dim=-1)
    if temperature <= 0:
        return greedy

    # Shift so the highest score is 0, then scale by the temperature.
    highest = logits.max(dim=-1, keepdim=True).values  # [B, 1]
    broken = ~torch.isfinite(highest)
    scaled = (logits.double() - highest.double()) / temperature
    scaled = scaled.masked_fill(broken, 0.0)

    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)

    probs = torch.softmax(scaled, dim=-1)
    drawn = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return torch.where(broken.squeeze(1), greedy, drawn)


def run_prompts(
    model: SequenceModel, prompts: list[list[int]], state: State | None = None
) -> tuple[Tensor, State]:
    """The scores after each prompt ``[B, V]`` and the model's state there.

    One padded run over all ``B`` prompts (non-empty lists of ids), each row
    read at its own length; ``state`` is the state before the prompts.

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    >>> logits, state = run_prompts(model, [[0, 1, 2], [1]])
    >>> logits.shape
    torch.Size([2, 3])
    """
    device = next(model.parameters()).device
    lengths = [len(p) for p in prompts]
    longest = max(lengths)
    ids = torch.zeros(len(prompts), longest, dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        ids[b, : len(p)] = torch.tensor(p, device=device)
    padded = min(lengths) != longest
    length_tensor = torch.tensor(lengths, device=device)
    logits, state = model(ids, state, length_tensor if padded else None)
    rows = torch.arange(len(prompts), device=device)
    return logits[rows, length_tensor - 1], state


def sample_steps(
    model: SequenceModel,
    prompts: list[list[int]],
    state: State | None = None,
    *,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    generator: torch.Generator,
    stop_ids: Collection[int] = frozenset(),
    texts: list[DecodedText] | None = None,
) -> Iterator[list[int | None]]:
    """Greedy or sampled generation for ``B`` prompts, one step at a time.

    Yields, per step, each row's new id, or ``None`` for a row that has
    ended. A row ends at an id in ``stop_ids`` (which is not yielded), at a
    stop string of its ``texts[b]`` (which gets every new id pushed), or
    after ``max_new_tokens``. The model runs in eval mode without gradients,
    and is back in the mode it came in whenever a step is handed out and at
    the end. ``state`` is the state before the prompts, for a batch of ``B``.

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    >>> steps = sample_steps(
    ...     model, [[0], [1, 2]], max_new_tokens=4, generator=torch.Generator()
    ... )
    >>> rows_per_step = [len(picks) for picks in steps]
    >>> rows_per_step
    [2, 2, 2, 2]
    """
    if max_new_tokens == 0:
        return
    device = next(model.parameters()).device
    rows = torch.arange(len(prompts), device=device)
    was_training = model.training
    model.eval()
    try:
        # The prompts in one padded run; their tokens count as already seen.
        with torch.no_grad():
            logits, state = run_prompts(model, prompts, state)  # [B, V]
            seen = torch.zeros(len(prompts), model.vocab_size, dtype=torch.bool)
            seen = seen.to(device)  # [B, V]
            for b, ids in enumerate(prompts):
                seen[b, ids] = True

        done = [False] * len(prompts)
        for count in range(1, max_new_tokens + 1):
            with torch.no_grad():
                penalized = apply_repetition_penalty(logits, seen, repetition_penalty)
                picked = pick_next_ids(
                    penalized,
                    temperature=temperature,
                    top_k=top_k,
                    top_p=top_p,
                    generator=generator,
                )  # [B]
                seen[rows, picked] = True

            # Rows that have ended stay in the batch but give None.
            picks: list[int | None] = []
            for b, pick in enumerate(picked.tolist()):
                if done[b] or pick in stop_ids:
                    done[b] = True
                    picks.append(None)
                    continue
                picks.append(pick)
                if texts is not None:
                    texts[b].push(pick)
                    done[b] = texts[b].stopped

            model.train(was_training)
            yield picks
            model.eval()
            if all(done) or count == max_new_tokens:
                return
            with torch.no_grad():
                logits, state = model.step(picked, state)
    finally:
        model.train(was_training)
