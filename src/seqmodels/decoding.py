"""SequenceDecoder: text from a prompt, one step per new token.

The prompt runs through the model once; after that the state is carried
forward, so each new token costs one ``model.step``, whatever the length of
what came before.

Each step turns the model's scores ``[B, V]`` into the next ids ``[B]``:

1. ``repetition_penalty`` (``r``): the score ``s`` of every token already in
   the row (prompt included) becomes ``s / r`` if positive, ``s * r`` if not.
2. ``temperature`` (``τ``): ``0`` picks the highest score (greedy). Above 0,
   scores become ``(s - max s) / τ``; subtracting the maximum first means a
   tiny ``τ`` tends to greedy without overflow or NaN.
3. ``top_k``: only the ``k`` highest scores stay (ties go to the lower id);
   ``k`` larger than ``V`` keeps everything.
4. ``top_p``: only the smallest set of the most probable tokens whose
   probabilities add up to at least ``p`` stays (nucleus sampling).
5. A draw from ``softmax`` of what stays, with the call's seed or generator.

Beam search (``beam_width > 1``) keeps the ``beam_width`` best partial
continuations by total log-probability and returns the finished one with
the best ``sum(log p) / length ** length_penalty``, where ``length`` counts
the new tokens, a stop token included. It is deterministic, so it does not
combine with ``temperature``, ``top_k`` or ``top_p``.
"""

from __future__ import annotations

import math
import operator
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqmodels.model import SequenceModel
from seqmodels.protocols import State, Tokenizer
from seqmodels.recurrent import map_state

__all__ = [
    "SequenceDecoder",
    "apply_repetition_penalty",
    "top_k_filter",
    "top_p_filter",
]

_NAME = "SequenceDecoder"


# -- the steps from scores to the next id, usable on their own ----------------


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """``logits [..., V]`` with all but the ``k`` highest set to ``-inf``.

    ``k`` larger than ``V`` keeps everything; ties at the boundary go to the
    lower id.

    >>> import torch
    >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0]), 2)
    tensor([-inf, 3., 2.])
    """
    k = min(k, logits.shape[-1])
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices
    drop = torch.ones_like(logits, dtype=torch.bool)
    drop.scatter_(-1, order[..., :k], False)
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
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    drop_sorted = mass_before >= p  # the most probable token always stays
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, -math.inf)


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


# -- options -------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    """The checked options of one call."""

    max_new_tokens: int
    temperature: float = 0.0
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float = 1.0
    beam_width: int = 1
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        _check_int("max_new_tokens", self.max_new_tokens, low=0)
        _check_number("temperature", self.temperature)
        if self.temperature < 0:
            raise ValueError(
                f"{_NAME}: temperature must be a finite number >= 0 (0 is greedy),"
                f" got {self.temperature}"
            )
        if self.top_k is not None:
            _check_int("top_k", self.top_k, low=1, extra=" or None")
        if self.top_p is not None:
            _check_number("top_p", self.top_p)
            if not 0 < self.top_p <= 1:
                raise ValueError(
                    f"{_NAME}: top_p must be in (0, 1] (1 keeps everything),"
                    f" got {self.top_p}"
                )
        _check_number("repetition_penalty", self.repetition_penalty)
        if self.repetition_penalty <= 0:
            raise ValueError(
                f"{_NAME}: repetition_penalty must be > 0 (1 is none),"
                f" got {self.repetition_penalty}"
            )
        _check_int("beam_width", self.beam_width, low=1)
        _check_number("length_penalty", self.length_penalty)
        if self.beam_width > 1 and (
            self.temperature > 0 or self.top_k is not None or self.top_p is not None
        ):
            raise ValueError(
                f"{_NAME}: beam search (beam_width={self.beam_width}) is"
                " deterministic; temperature, top_k and top_p apply to sampling"
                " with beam_width=1"
            )

    @property
    def samples(self) -> bool:
        return self.temperature > 0


def _check_int(name: str, value: object, *, low: int, extra: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{_NAME}: {name} must be an int{extra}, got {type(value).__name__}"
        )
    if value < low:
        raise ValueError(f"{_NAME}: {name} must be >= {low}{extra}, got {value}")


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{_NAME}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{_NAME}: {name} must be finite, got {value}")


def _generator(seed: object, device: torch.device) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    elif isinstance(seed, int) and not isinstance(seed, bool):
        generator.manual_seed(seed)
    else:
        raise TypeError(
            f"{_NAME}: seed must be an int, a torch.Generator or None,"
            f" got {type(seed).__name__}"
        )
    return generator


def _pick(logits: Tensor, options: _Options, generator: torch.Generator) -> Tensor:
    """The next ids ``[B]`` from processed scores ``[B, V]``."""
    greedy = logits.argmax(dim=-1)
    if not options.samples:
        return greedy
    top = logits.max(dim=-1, keepdim=True).values
    broken = ~torch.isfinite(top)  # a model that gave inf or NaN: stay greedy
    scaled = (logits.double() - top.double()) / options.temperature
    scaled = scaled.masked_fill(broken, 0.0)
    if options.top_k is not None:
        scaled = top_k_filter(scaled, options.top_k)
    if options.top_p is not None:
        scaled = top_p_filter(scaled, options.top_p)
    probs = torch.softmax(scaled, dim=-1)
    drawn = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return torch.where(broken.squeeze(1), greedy, drawn)


# -- text bookkeeping for stop strings and streaming ---------------------------


class _Text:
    """The decoded text of one row as ids arrive: where a stop string cuts it,
    and which part of it is safe to stream."""

    def __init__(
        self, tokenizer: Tokenizer, prompt_ids: list[int], stops: tuple[str, ...]
    ) -> None:
        self.tokenizer = tokenizer
        self.ids = list(prompt_ids)
        self.prompt = tokenizer.decode(self.ids)
        self.text = self.prompt
        self.stops = stops
        self.stopped = False
        self._streamed = unicodedata.normalize("NFD", self.prompt)

    def _start(self, text: str) -> int:
        """Where the continuation starts in ``text`` (the prompt's last
        character may change when a jamo tokenizer composes a syllable)."""
        n = min(len(self.prompt), len(text))
        i = 0
        while i < n and self.prompt[i] == text[i]:
            i += 1
        return i

    def find_stop(self, text: str) -> int | None:
        """The index in ``text`` of the first stop string after the prompt."""
        start = self._start(text)
        found = [i for s in self.stops if (i := text.find(s, start)) >= 0]
        return min(found) if found else None

    def push(self, new_id: int) -> None:
        self.ids.append(new_id)
        text = self.tokenizer.decode(self.ids)
        cut = self.find_stop(text)
        if cut is not None:
            text, self.stopped = text[:cut], True
        self.text = text

    def piece(self, *, final: bool) -> str:
        """The text that came since the last piece, as ``str``; a suffix that
        may still turn into a stop string is held back until it is decided."""
        visible = self.text
        if not (final or self.stopped):
            start = self._start(visible)
            held = max(
                (
                    k
                    for s in self.stops
                    for k in range(1, len(s))
                    if len(visible) - k >= start and visible.endswith(s[:k])
                ),
                default=0,
            )
            visible = visible[: len(visible) - held]
        decomposed = unicodedata.normalize("NFD", visible)
        if not decomposed.startswith(self._streamed):
            if not final:
                return ""  # wait for the tokenizer's text to settle
            raise RuntimeError(
                f"{_NAME}.stream: the tokenizer's decode changed text that was"
                " already streamed; use generate() with this tokenizer"
            )
        new = decomposed[len(self._streamed) :]
        self._streamed = decomposed
        return unicodedata.normalize("NFC", new)


# -- the decoder ---------------------------------------------------------------


class SequenceDecoder:
    """Generates text with a ``SequenceModel`` and the tokenizer it was trained
    with.

    Args:
        model: the ``SequenceModel`` that scores the next token.
        tokenizer: encodes prompts and decodes results; may be ``None`` when
            only the ``*_ids`` methods are used (an encoder-decoder's target
            side, say).

    Every method takes the same options: ``temperature``, ``top_k``,
    ``top_p``, ``repetition_penalty``, ``beam_width``, ``length_penalty``
    (see the module docstring for what each does), ``seed`` (an int or a
    ``torch.Generator``; the same seed gives the same text, ``None`` a fresh
    one), ``stop`` (tokens, or ids in the ``*_ids`` methods, that end a row
    and are left out) and ``stop_strings`` (text that ends a row; the result
    stops just before it).

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding, WordTokenizer
    >>> tok = WordTokenizer().fit("하나 둘 셋")
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    >>> decoder = SequenceDecoder(model, tok)
    >>> len(decoder.generate("하나", max_new_tokens=2).split())
    3
    >>> a = decoder.generate("하나", 5, temperature=1.0, top_p=0.9, seed=7)
    >>> a == decoder.generate("하나", 5, temperature=1.0, top_p=0.9, seed=7)
    True
    """

    def __init__(
        self, model: SequenceModel, tokenizer: Tokenizer | None = None
    ) -> None:
        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"{_NAME}: expected a SequenceModel, got {type(model).__name__}"
            )
        if tokenizer is not None:
            if not isinstance(tokenizer, Tokenizer):
                raise TypeError(
                    f"{_NAME}: expected a tokenizer with vocab, encode() and"
                    f" decode(), got {type(tokenizer).__name__}"
                )
            if len(tokenizer.vocab) > model.vocab_size:
                raise ValueError(
                    f"{_NAME}: the tokenizer has {len(tokenizer.vocab)} tokens"
                    f" but the model scores only {model.vocab_size}"
                )
        self.model = model
        self.tokenizer = tokenizer

    # -- text in, text out -----------------------------------------------------

    def generate(
        self,
        prompt: str,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        beam_width: int = 1,
        length_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop: str | Sequence[str] | None = None,
        stop_strings: str | Sequence[str] | None = None,
    ) -> str:
        """The prompt followed by up to ``max_new_tokens`` generated tokens:
        ``tokenizer.decode`` of the prompt's ids and the new ones, cut before
        the first stop string."""
        return self.generate_batch(
            [prompt],
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            beam_width=beam_width,
            length_penalty=length_penalty,
            seed=seed,
            stop=stop,
            stop_strings=stop_strings,
        )[0]

    def generate_batch(
        self,
        prompts: Sequence[str],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        beam_width: int = 1,
        length_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop: str | Sequence[str] | None = None,
        stop_strings: str | Sequence[str] | None = None,
    ) -> list[str]:
        """``generate`` for several prompts at once, as one padded batch.

        Sampling draws for the whole batch from one generator, so a row's text
        depends on the seed and on the size of the batch; greedy and beam rows
        equal ``generate`` of each prompt alone.
        """
        options = _Options(
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            repetition_penalty,
            beam_width,
            length_penalty,
        )
        tokenizer = self._need_tokenizer("generate")
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise TypeError(
                f"{_NAME}: expected prompts as a list of str,"
                f" got {type(prompts).__name__}"
            )
        prompt_ids = [self._encode(p) for p in prompts]
        stop_ids = self._stop_ids(stop)
        stops = _as_strings("stop_strings", stop_strings)
        texts = [_Text(tokenizer, ids, stops) for ids in prompt_ids]
        if not prompt_ids:
            return []

        if options.beam_width > 1:
            for ids, text in zip(prompt_ids, texts, strict=True):
                done = _stop_check(tokenizer, ids, stops)
                new = self._beam_search(ids, options, stop_ids, None, done)
                for new_id in new:
                    text.push(new_id)
            return [t.text for t in texts]

        generator = _generator(seed, self._device)
        for _ in self._each_token(prompt_ids, options, generator, stop_ids, texts):
            pass
        return [t.text for t in texts]

    def stream(
        self,
        prompt: str,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop: str | Sequence[str] | None = None,
        stop_strings: str | Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Yields the generated text piece by piece, as the tokens come.

        ``prompt_text + "".join(pieces)`` is ``generate``'s result with the
        same options and seed, where ``prompt_text`` is the decoded prompt.
        Text that may still become a stop string is held back until decided.

        Notes:
            With a tokenizer whose ``decode`` composes letters (the
            ``JamoTokenizer``) a piece may be a lone jamo that joins the
            syllable before it, so the joined text is ``generate``'s up to
            Unicode normalisation (NFC of it is equal).
        """
        options = _Options(
            max_new_tokens, temperature, top_k, top_p, repetition_penalty
        )
        tokenizer = self._need_tokenizer("stream")
        ids = self._encode(prompt)
        stop_ids = self._stop_ids(stop)
        text = _Text(tokenizer, ids, _as_strings("stop_strings", stop_strings))
        generator = _generator(seed, self._device)

        def pieces() -> Iterator[str]:
            for _ in self._each_token([ids], options, generator, stop_ids, [text]):
                piece = text.piece(final=False)
                if piece:
                    yield piece
            piece = text.piece(final=True)
            if piece:
                yield piece

        return pieces()

    # -- ids in, ids out -------------------------------------------------------

    def generate_ids(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        beam_width: int = 1,
        length_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop_ids: Sequence[int] = (),
        state: State | None = None,
    ) -> list[int]:
        """The new ids after ``prompt_ids`` (not including them, nor a stop id).

        ``state`` is the model's state before the prompt, for a batch of 1
        (an encoder's final state, say); ``None`` is the zero state.
        """
        return self.generate_batch_ids(
            [prompt_ids],
            max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            beam_width=beam_width,
            length_penalty=length_penalty,
            seed=seed,
            stop_ids=stop_ids,
            state=state,
        )[0]

    def generate_batch_ids(
        self,
        prompts_ids: Sequence[Sequence[int]],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        beam_width: int = 1,
        length_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop_ids: Sequence[int] = (),
        state: State | None = None,
    ) -> list[list[int]]:
        """``generate_ids`` for ``B`` prompts; ``state`` is for a batch of
        ``B``."""
        options = _Options(
            max_new_tokens,
            temperature,
            top_k,
            top_p,
            repetition_penalty,
            beam_width,
            length_penalty,
        )
        prompts = [self._check_ids("prompt_ids", p) for p in prompts_ids]
        for p in prompts:
            if not p:
                raise ValueError(f"{_NAME}: a prompt has no ids; give at least one")
        stops = frozenset(self._check_ids("stop_ids", stop_ids))
        if not prompts:
            return []

        if options.beam_width > 1:
            results: list[list[int]] = []
            for b, ids in enumerate(prompts):
                index = torch.tensor([b], device=self._device)
                row_state = None if state is None else _select(state, index)
                results.append(self._beam_search(ids, options, stops, row_state, None))
            return results

        generator = _generator(seed, self._device)
        new: list[list[int]] = [[] for _ in prompts]
        for picks in self._each_token(prompts, options, generator, stops, None, state):
            for row, pick in zip(new, picks, strict=True):
                if pick is not None:
                    row.append(pick)
        return new

    def stream_ids(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int | None = None,
        top_p: float | None = None,
        repetition_penalty: float = 1.0,
        seed: int | torch.Generator | None = None,
        stop_ids: Sequence[int] = (),
        state: State | None = None,
    ) -> Iterator[int]:
        """Yields the ids of ``generate_ids`` one by one, as they come."""
        options = _Options(
            max_new_tokens, temperature, top_k, top_p, repetition_penalty
        )
        prompt = self._check_ids("prompt_ids", prompt_ids)
        if not prompt:
            raise ValueError(f"{_NAME}: prompt_ids is empty; give at least one id")
        stops = frozenset(self._check_ids("stop_ids", stop_ids))
        generator = _generator(seed, self._device)

        def ids() -> Iterator[int]:
            for (pick,) in self._each_token(
                [prompt], options, generator, stops, None, state
            ):
                if pick is not None:
                    yield pick

        return ids()

    # -- the loops -------------------------------------------------------------

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _each_token(
        self,
        prompts: list[list[int]],
        options: _Options,
        generator: torch.Generator,
        stop_ids: frozenset[int],
        texts: list[_Text] | None,
        state: State | None = None,
    ) -> Iterator[list[int | None]]:
        """Sampling or greedy for ``B`` rows: yields, per step, each row's new
        id (``None`` for a row that has ended). Rows end at a stop id, at a
        stop string (``texts``) or after ``max_new_tokens``."""
        if options.max_new_tokens == 0:
            return
        model, device = self.model, self._device
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                last, state = self._run_prompts(prompts, state)
                seen = torch.zeros(len(prompts), model.vocab_size, dtype=torch.bool)
                seen = seen.to(device)
                for b, ids in enumerate(prompts):
                    seen[b, ids] = True
            done = [False] * len(prompts)
            for count in range(1, options.max_new_tokens + 1):
                with torch.no_grad():
                    scores = apply_repetition_penalty(
                        last, seen, options.repetition_penalty
                    )
                    picked = _pick(scores, options, generator)
                    seen[torch.arange(len(prompts), device=device), picked] = True
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
                if all(done) or count == options.max_new_tokens:
                    return
                with torch.no_grad():
                    last, state = model.step(picked, state)
        finally:
            model.train(was_training)

    def _run_prompts(
        self, prompts: list[list[int]], state: State | None
    ) -> tuple[Tensor, State]:
        """The scores after each prompt ``[B, V]`` and the state there: one
        padded run over all prompts."""
        device = self._device
        lengths = [len(p) for p in prompts]
        longest = max(lengths)
        ids = torch.zeros(len(prompts), longest, dtype=torch.long, device=device)
        for b, p in enumerate(prompts):
            ids[b, : len(p)] = torch.tensor(p, device=device)
        padded = min(lengths) != longest
        length_tensor = torch.tensor(lengths, device=device)
        logits, state = self.model(ids, state, length_tensor if padded else None)
        rows = torch.arange(len(prompts), device=device)
        return logits[rows, length_tensor - 1], state

    @torch.no_grad()
    def _beam_search(
        self,
        prompt: list[int],
        options: _Options,
        stop_ids: frozenset[int],
        state: State | None,
        text_done: Callable[[list[int]], bool] | None,
    ) -> list[int]:
        """The best continuation of one prompt by beam search."""
        steps, width, alpha = (
            options.max_new_tokens,
            options.beam_width,
            options.length_penalty,
        )
        if steps == 0:
            return []
        model = self.model
        was_training = model.training
        model.eval()
        try:
            last, state = self._run_prompts([prompt], state)
            vocab = last.shape[-1]
            beams: list[list[int]] = [[]]
            scores = torch.zeros(1, dtype=torch.float64, device=last.device)
            seen = torch.zeros(1, vocab, dtype=torch.bool, device=last.device)
            seen[0, prompt] = True
            finished: list[tuple[float, list[int]]] = []

            for step in range(1, steps + 1):
                scores_now = apply_repetition_penalty(
                    last, seen, options.repetition_penalty
                )
                logp = torch.log_softmax(scores_now.double(), dim=-1)
                total = (scores.unsqueeze(1) + logp).flatten()
                order = torch.sort(total, descending=True, stable=True).indices
                kept: list[tuple[int, int, float]] = []  # (parent, token, score)
                for flat in order.tolist():
                    score = float(total[flat])
                    if score == -math.inf:
                        break
                    parent, token = divmod(flat, vocab)
                    if token in stop_ids:
                        finished.append((score / step**alpha, beams[parent]))
                        continue
                    new = [*beams[parent], token]
                    if text_done is not None and text_done(new):
                        finished.append((score / step**alpha, new))
                        continue
                    kept.append((parent, token, score))
                    if len(kept) == width:
                        break
                if not kept:
                    break
                parents = torch.tensor([k[0] for k in kept], device=last.device)
                tokens = torch.tensor([k[1] for k in kept], device=last.device)
                beams = [[*beams[k[0]], k[1]] for k in kept]
                scores = torch.tensor(
                    [k[2] for k in kept], dtype=torch.float64, device=last.device
                )
                seen = seen.index_select(0, parents)
                seen[torch.arange(len(kept), device=last.device), tokens] = True
                if step == steps or _settled(finished, scores, step, steps, options):
                    break
                state = _select(state, parents)
                last, state = model.step(tokens, state)

            for beam, score in zip(beams, scores.tolist(), strict=True):
                if len(beam) == steps or not finished:
                    finished.append((score / max(len(beam), 1) ** alpha, beam))
        finally:
            model.train(was_training)
        best = max(range(len(finished)), key=lambda i: (finished[i][0], -i))
        return finished[best][1]

    # -- checks ----------------------------------------------------------------

    def _need_tokenizer(self, method: str) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError(
                f"{_NAME}.{method}: this decoder has no tokenizer; pass one to"
                " SequenceDecoder(model, tokenizer) or use the *_ids methods"
            )
        return self.tokenizer

    def _encode(self, prompt: object) -> list[int]:
        if not isinstance(prompt, str):
            raise TypeError(
                f"{_NAME}: expected the prompt as str, got {type(prompt).__name__}"
            )
        ids = self._need_tokenizer("generate").encode(prompt)
        if not ids:
            raise ValueError(
                f"{_NAME}: the prompt {prompt!r} has no tokens that the tokenizer keeps"
            )
        return ids

    def _check_ids(self, what: str, ids: object) -> list[int]:
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
            raise TypeError(
                f"{_NAME}: expected {what} as a sequence of int ids,"
                f" got {type(ids).__name__}"
            )
        out = []
        for raw in ids:
            if isinstance(raw, bool):
                raise TypeError(f"{_NAME}: expected int ids in {what}, got bool")
            try:
                index = operator.index(raw)
            except TypeError:
                raise TypeError(
                    f"{_NAME}: expected int ids in {what}, got {type(raw).__name__}"
                ) from None
            if not 0 <= index < self.model.vocab_size:
                raise ValueError(
                    f"{_NAME}: {what} has id {index}; the model scores ids"
                    f" 0 to {self.model.vocab_size - 1}"
                )
            out.append(index)
        return out

    def _stop_ids(self, stop: str | Sequence[str] | None) -> frozenset[int]:
        tokens = _as_strings("stop", stop)
        if not tokens:
            return frozenset()
        tokenizer = self._need_tokenizer("generate")
        by_token = {token: i for i, token in enumerate(tokenizer.vocab)}
        ids = set()
        for token in tokens:
            if token in by_token:  # also special tokens such as "<eos>"
                ids.add(by_token[token])
                continue
            encoded = tokenizer.encode(token)
            if len(encoded) != 1:
                raise ValueError(
                    f"{_NAME}: a stop token must be one token, {token!r} gives"
                    f" {len(encoded)}; pass text that ends generation as"
                    " stop_strings instead"
                )
            ids.add(encoded[0])
        return frozenset(ids)


def _select(state: State, index: Tensor) -> State:
    """The rows ``index`` of every tensor of a state."""
    return map_state(lambda s: s.index_select(0, index), state)


def _as_strings(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, Sequence) or not all(
        isinstance(v, str) and v for v in values
    ):
        raise TypeError(
            f"{_NAME}: {name} must be a non-empty str or a list of them, got {value!r}"
        )
    return tuple(values)


def _stop_check(
    tokenizer: Tokenizer, prompt: list[int], stops: tuple[str, ...]
) -> Callable[[list[int]], bool] | None:
    """For beam search: whether a continuation holds a stop string."""
    if not stops:
        return None

    def done(new: list[int]) -> bool:
        text = _Text(tokenizer, prompt, stops)
        return text.find_stop(tokenizer.decode(prompt + new)) is not None

    return done


def _settled(
    finished: list[tuple[float, list[int]]],
    scores: Tensor,
    step: int,
    steps: int,
    options: _Options,
) -> bool:
    """Whether no running beam can beat the ``beam_width`` best finished ones.

    Scores only fall as tokens are added, so a running beam's best possible
    normalised score is its score now over the most favourable length.
    """
    if len(finished) < options.beam_width:
        return False
    worst_kept = sorted((f[0] for f in finished), reverse=True)[options.beam_width - 1]
    alpha = options.length_penalty
    length = steps if alpha > 0 else step + 1
    bound = float(scores.max()) / length**alpha
    return bool(bound <= worst_kept)
