"""GenerationOptions: the options of one ``SequenceDecoder`` call, checked.

What each option does is in ``seqmodels.sampling`` (temperature, top-k, top-p,
repetition penalty) and ``seqmodels.beam`` (beam width, length penalty). This
module only checks them, so that a bad value fails at the call with an error
that names the option, what was expected and what came. ``as_generator`` and
``as_stops`` check the ``seed`` and ``stop_strings`` arguments.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from seqmodels.protocols import Tokenizer

__all__ = [
    "GenerationOptions",
    "as_generator",
    "as_stops",
    "check_ids",
    "encode_prompt",
    "stop_token_ids",
]

_NAME = "SequenceDecoder"


@dataclass(frozen=True)
class GenerationOptions:
    """The checked options of one generation call.

    Raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for
    one out of range, naming the option; beam search (``beam_width > 1``)
    with any sampling option is a ``ValueError`` too.

    >>> options = GenerationOptions(max_new_tokens=5, temperature=0.8, top_p=0.9)
    >>> options.top_k, options.beam_width
    (None, 1)
    >>> GenerationOptions(max_new_tokens=5, top_p=1.5)
    Traceback (most recent call last):
    ValueError: SequenceDecoder: top_p must be in (0, 1] (1 keeps everything), got 1.5
    """

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


def as_generator(seed: object, device: torch.device) -> torch.Generator:
    """The generator for a ``seed`` argument: a ``torch.Generator`` as it is,
    an int seeds a new one on ``device``, ``None`` a new one seeded afresh.

    >>> as_generator(7, torch.device("cpu")).initial_seed()
    7
    """
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


def as_stops(name: str, value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A ``stop``/``stop_strings`` argument as a tuple: one str, a list of
    them or ``None``; each must be non-empty.

    >>> as_stops("stop_strings", "。")
    ('。',)
    """
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


def encode_prompt(tokenizer: Tokenizer, prompt: object) -> list[int]:
    """The ids of a ``prompt`` str; it must keep at least one token.

    >>> from seqmodels import WordTokenizer
    >>> encode_prompt(WordTokenizer().fit("하나 둘"), "둘")
    [1]
    """
    if not isinstance(prompt, str):
        raise TypeError(
            f"{_NAME}: expected the prompt as str, got {type(prompt).__name__}"
        )
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError(
            f"{_NAME}: the prompt {prompt!r} has no tokens that the tokenizer keeps"
        )
    return ids


def check_ids(what: str, ids: object, vocab_size: int) -> list[int]:
    """``ids`` (a sequence or a tensor of ints, named ``what`` in errors) as a
    list; each must be in ``[0, vocab_size)``.

    >>> import torch
    >>> check_ids("prompt_ids", torch.tensor([0, 2]), vocab_size=3)
    [0, 2]
    """
    if isinstance(ids, Tensor):
        ids = ids.tolist()
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise TypeError(
            f"{_NAME}: expected {what} as a sequence of int ids,"
            f" got {type(ids).__name__}"
        )
    checked = []
    for raw in ids:
        if isinstance(raw, bool):
            raise TypeError(f"{_NAME}: expected int ids in {what}, got bool")
        try:
            index = operator.index(raw)
        except TypeError:
            raise TypeError(
                f"{_NAME}: expected int ids in {what}, got {type(raw).__name__}"
            ) from None
        if not 0 <= index < vocab_size:
            raise ValueError(
                f"{_NAME}: {what} has id {index}; the model scores ids"
                f" 0 to {vocab_size - 1}"
            )
        checked.append(index)
    return checked


def stop_token_ids(
    tokenizer: Tokenizer, stop: str | Sequence[str] | None
) -> frozenset[int]:
    """The ids of the ``stop`` tokens: each a token of the vocabulary (special
    tokens such as ``"<eos>"`` included) or text that encodes to one token.

    >>> from seqmodels import WordTokenizer
    >>> sorted(stop_token_ids(WordTokenizer().fit("하나 둘 셋"), ["셋", "둘"]))
    [1, 2]
    """
    tokens = as_stops("stop", stop)
    if not tokens:
        return frozenset()
    by_token = {token: i for i, token in enumerate(tokenizer.vocab)}
    ids = set()
    for token in tokens:
        if token in by_token:
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
