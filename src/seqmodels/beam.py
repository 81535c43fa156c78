"""Beam search: the most probable continuation, searched ``W`` rows at a time.

Beam search keeps the ``W = beam_width`` best partial continuations (beams)
by total log-probability. At each step every beam is extended by every token
of the vocabulary, and the best ``W`` extensions that do not end go on as
the new beams. An extension ends at a stop id or when its text holds a stop
string; it is then scored

    sum(log p) / length ** length_penalty

where ``length`` counts the new tokens, a stop id included. The result is
the ended continuation with the best score; beams still running after
``max_new_tokens`` count as ended there. The search stops early once no
running beam can beat the ``W`` best ended ones. Ties go to the one found
first, so the result is deterministic.

``SequenceDecoder`` runs this for ``beam_width > 1``, one prompt at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection

import torch
from torch import Tensor

from seqmodels.model import SequenceModel
from seqmodels.protocols import State
from seqmodels.recurrent import map_state
from seqmodels.sampling import apply_repetition_penalty, run_prompts

__all__ = ["beam_search"]


def beam_search(
    model: SequenceModel,
    prompt_ids: list[int],
    state: State | None = None,
    *,
    max_new_tokens: int,
    beam_width: int,
    length_penalty: float = 1.0,
    repetition_penalty: float = 1.0,
    stop_ids: Collection[int] = frozenset(),
    is_stopped: Callable[[list[int]], bool] | None = None,
) -> list[int]:
    """The best continuation of one prompt, as new ids (without a stop id).

    Args:
        model: scores the prompt, then each step with
            ``model.step(ids [W], state) -> (logits [W, V], state)``. It runs
            in eval mode without gradients and is left in the mode it came in.
        prompt_ids: the prompt (at least one id); its tokens count as
            already in the row for ``repetition_penalty``.
        state: the model's state before the prompt, for a batch of 1;
            ``None`` is the zero state.
        max_new_tokens: the most new tokens.
        beam_width: ``W``, the number of beams kept.
        length_penalty: ``0`` compares plain log-probabilities (short rows
            win); larger values favour longer rows.
        repetition_penalty: as in ``apply_repetition_penalty``.
        stop_ids: ids that end a continuation.
        is_stopped: whether a continuation (its new ids) holds a stop string.

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    >>> len(beam_search(model, [0], max_new_tokens=3, beam_width=2))
    3
    """
    if max_new_tokens == 0:
        return []
    was_training = model.training
    model.eval()
    try:
        ended = _search(
            model,
            prompt_ids,
            state,
            steps=max_new_tokens,
            width=beam_width,
            alpha=length_penalty,
            repetition_penalty=repetition_penalty,
            stop_ids=stop_ids,
            is_stopped=is_stopped,
        )
    finally:
        model.train(was_training)
    best = max(range(len(ended)), key=lambda i: (ended[i][0], -i))
    return ended[best][1]


@torch.no_grad()
def _search(
    model: SequenceModel,
    prompt_ids: list[int],
    state: State | None,
    *,
    steps: int,
    width: int,
    alpha: float,
    repetition_penalty: float,
    stop_ids: Collection[int],
    is_stopped: Callable[[list[int]], bool] | None,
) -> list[tuple[float, list[int]]]:
    """The ended continuations of ``beam_search``, in the order they ended,
    each with its normalised score: ``(score, new ids)``."""
    logits, state = run_prompts(model, [prompt_ids], state)  # [1, V]
    vocab_size = logits.shape[-1]
    device = logits.device
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1, dtype=torch.float64, device=device)  # [W]
    seen = torch.zeros(1, vocab_size, dtype=torch.bool, device=device)  # [W, V]
    seen[0, prompt_ids] = True
    ended: list[tuple[float, list[int]]] = []

    for step in range(1, steps + 1):
        # Every beam extended by every token, best total log-probability first.
        penalized = apply_repetition_penalty(logits, seen, repetition_penalty)
        log_probs = torch.log_softmax(penalized.double(), dim=-1)  # [W, V]
        totals = (scores.unsqueeze(1) + log_probs).flatten()  # [W * V]
        ranked = torch.sort(totals, descending=True, stable=True).indices

        # The best W extensions that go on; those that end on the way go to
        # ``ended``. Impossible extensions (-inf) are never taken.
        kept: list[tuple[int, int, float]] = []  # (parent beam, token, total)
        for flat in ranked.tolist():
            total = float(totals[flat])
            if total == -math.inf:
                break
            parent, token = divmod(flat, vocab_size)
            if token in stop_ids:
                ended.append((total / step**alpha, beams[parent]))
                continue
            extended = [*beams[parent], token]
            if is_stopped is not None and is_stopped(extended):
                ended.append((total / step**alpha, extended))
                continue
            kept.append((parent, token, total))
            if len(kept) == width:
                break
        if not kept:
            break

        # The kept extensions become the beams.
        parents = torch.tensor([k[0] for k in kept], device=device)  # [W]
        tokens = torch.tensor([k[1] for k in kept], device=device)  # [W]
        beams = [[*beams[parent], token] for parent, token, _ in kept]
        scores = torch.tensor([k[2] for k in kept], dtype=torch.float64, device=device)
        seen = seen.index_select(0, parents)
        seen[torch.arange(len(kept), device=device), tokens] = True
        if step == steps or _settled(ended, scores, step, steps, width, alpha):
            break

        # One model step for all beams, each from its parent's state.
        state = _select_rows(state, parents)
        logits, state = model.step(tokens, state)

    # Beams that ran the full length end there; if nothing ended at all, the
    # running beams are all there is.
    for beam, score in zip(beams, scores.tolist(), strict=True):
        if len(beam) == steps or not ended:
            ended.append((score / max(len(beam), 1) ** alpha, beam))
    return ended


def _settled(
    ended: list[tuple[float, list[int]]],
    scores: Tensor,
    step: int,
    steps: int,
    width: int,
    alpha: float,
) -> bool:
    """Whether no running beam (total log-probabilities ``scores [W]``) can
    beat the ``width`` best ended continuations.

    Totals only fall as tokens are added, so a running beam's best possible
    normalised score is its total now over the most favourable length: the
    longest for ``alpha > 0``, else the shortest.
    """
    if len(ended) < width:
        return False
    worst_kept = sorted((e[0] for e in ended), reverse=True)[width - 1]
    length = steps if alpha > 0 else step + 1
    bound = float(scores.max()) / length**alpha
    return bool(bound <= worst_kept)


def _select_rows(state: State, index: Tensor) -> State:
    """The rows ``index`` of every tensor of a state (a beam's parents')."""
    return map_state(lambda s: s.index_select(0, index), state)
