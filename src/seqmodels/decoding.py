"""SequenceDecoder: text from a prompt, one step per new token."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from seqmodels.model import SequenceModel
from seqmodels.protocols import State, Tokenizer

__all__ = ["SequenceDecoder"]


class SequenceDecoder:
    """Generates text with a ``SequenceModel`` and the tokenizer it was trained
    with.

    The prompt runs through the model once; after that the state is carried
    forward, so each new token costs one step of the cell, whatever the length
    of what came before.

    >>> import torch
    >>> from seqmodels import LSTMCell, OneHotEmbedding, WordTokenizer
    >>> tok = WordTokenizer().fit("하나 둘 셋")
    >>> model = SequenceModel(OneHotEmbedding(3), LSTMCell(3, 4), vocab_size=3)
    >>> text = SequenceDecoder(model, tok).generate("하나", max_new_tokens=2)
    >>> len(text.split())
    3
    """

    def __init__(self, model: SequenceModel, tokenizer: Tokenizer) -> None:
        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"SequenceDecoder: expected a SequenceModel, got {type(model).__name__}"
            )
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(
                "SequenceDecoder: expected a tokenizer with vocab, encode() and"
                f" decode(), got {type(tokenizer).__name__}"
            )
        if len(tokenizer.vocab) > model.vocab_size:
            raise ValueError(
                f"SequenceDecoder: the tokenizer has {len(tokenizer.vocab)} tokens"
                f" but the model scores only {model.vocab_size}"
            )
        self.model = model
        self.tokenizer = tokenizer

    def generate(
        self,
        prompt: str,
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int | torch.Generator | None = None,
        stop: str | Sequence[str] | None = None,
    ) -> str:
        """The prompt followed by up to ``max_new_tokens`` generated tokens.

        Args:
            prompt: text the tokenizer encodes; each word must be in its
                vocabulary (or map to its unknown token).
            max_new_tokens: how many tokens to add at most (``>= 0``).
            temperature: ``0`` picks the highest-scoring token (greedy); a
                positive value samples from ``softmax(logits / temperature)``.
            seed: an int or a ``torch.Generator`` for sampling; the same seed
                gives the same text. ``None`` draws a fresh seed.
            stop: a token, or tokens, that end generation; the stop token is
                not part of the returned text.

        Returns:
            ``tokenizer.decode`` of the prompt's ids and the new ones.
        """
        if not isinstance(prompt, str):
            raise TypeError(
                "SequenceDecoder: expected the prompt as str,"
                f" got {type(prompt).__name__}"
            )
        prompt_ids = self.tokenizer.encode(prompt)
        if not prompt_ids:
            raise ValueError(
                f"SequenceDecoder: the prompt {prompt!r} has no tokens that the"
                " tokenizer keeps"
            )
        stop_ids = self._stop_ids(stop)
        new_ids = self.generate_ids(
            prompt_ids,
            max_new_tokens,
            temperature=temperature,
            seed=seed,
            stop_ids=stop_ids,
        )
        return self.tokenizer.decode(prompt_ids + new_ids)

    @torch.no_grad()
    def generate_ids(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        seed: int | torch.Generator | None = None,
        stop_ids: Sequence[int] = (),
    ) -> list[int]:
        """The new ids after ``prompt_ids`` (not including them); see
        ``generate``."""
        _check_count(max_new_tokens)
        _check_temperature(temperature)
        if len(prompt_ids) == 0:
            raise ValueError("SequenceDecoder: prompt_ids is empty")
        model = self.model
        device = next(model.parameters()).device
        generator = _generator(seed, device) if temperature > 0 else None

        was_training = model.training
        model.eval()
        try:
            ids = torch.tensor([list(prompt_ids)], device=device)
            logits, state = model(ids)
            last = logits[:, -1]
            new_ids: list[int] = []
            for _ in range(max_new_tokens):
                next_id = _pick(last, temperature, generator)
                if int(next_id) in stop_ids:
                    break
                new_ids.append(int(next_id))
                if len(new_ids) == max_new_tokens:
                    break
                last, state = self._step(next_id, state)
        finally:
            model.train(was_training)
        return new_ids

    def _step(self, next_id: Tensor, state: State) -> tuple[Tensor, State]:
        return self.model.step(next_id.reshape(1), state)

    def _stop_ids(self, stop: str | Sequence[str] | None) -> list[int]:
        if stop is None:
            return []
        tokens = [stop] if isinstance(stop, str) else list(stop)
        ids = []
        for token in tokens:
            encoded = self.tokenizer.encode(token)
            if len(encoded) != 1:
                raise ValueError(
                    f"SequenceDecoder: a stop token must encode to one token,"
                    f" {token!r} gives {len(encoded)}"
                )
            ids.append(encoded[0])
        return ids


def _check_count(max_new_tokens: int) -> None:
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise TypeError(
            "SequenceDecoder: max_new_tokens must be an int,"
            f" got {type(max_new_tokens).__name__}"
        )
    if max_new_tokens < 0:
        raise ValueError(
            f"SequenceDecoder: max_new_tokens must be >= 0, got {max_new_tokens}"
        )


def _check_temperature(temperature: float) -> None:
    if not isinstance(temperature, int | float) or isinstance(temperature, bool):
        raise TypeError(
            "SequenceDecoder: temperature must be a number,"
            f" got {type(temperature).__name__}"
        )
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(
            "SequenceDecoder: temperature must be a finite number >= 0"
            f" (0 is greedy), got {temperature}"
        )


def _generator(
    seed: int | torch.Generator | None, device: torch.device
) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    generator = torch.Generator(device=device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator


def _pick(
    logits: Tensor, temperature: float, generator: torch.Generator | None
) -> Tensor:
    """The next id ``[1]`` from ``logits [1, V]``."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    scaled = logits.double() / temperature
    if bool(torch.isnan(scaled).any() or torch.isposinf(scaled).any()):
        return logits.argmax(dim=-1)  # a temperature this close to 0 is greedy
    probs = torch.softmax(scaled, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
