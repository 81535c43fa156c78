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

This module checks a call's arguments and hands it to a strategy. The pieces
live in the modules above it: ``seqmodels.sampling`` (greedy and sampling;
``top_k_filter``, ``top_p_filter`` and ``apply_repetition_penalty`` are
re-exported here), ``seqmodels.beam``, ``seqmodels.decoded_text`` (stop
strings and streamed text) and ``seqmodels.generation_options`` (the checks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from seqmodels.beam import beam_search
from seqmodels.decoded_text import DecodedText
from seqmodels.generation_options import (
    GenerationOptions,
    as_generator,
    as_stops,
    check_ids,
    encode_prompt,
    stop_token_ids,
)
from seqmodels.model import SequenceModel
from seqmodels.protocols import State, Tokenizer
from seqmodels.recurrent import map_state
from seqmodels.sampling import (
    apply_repetition_penalty,
    sample_steps,
    top_k_filter,
    top_p_filter,
)

__all__ = [
    "SequenceDecoder",
    "apply_repetition_penalty",
    "top_k_filter",
    "top_p_filter",
]

_NAME = "SequenceDecoder"


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
            if len(tokenizer.vocab) != model.vocab_size:
                raise ValueError(
                    f"{_NAME}: the tokenizer has {len(tokenizer.vocab)} tokens"
                    f" but the model scores {model.vocab_size}; they must be"
                    " equal (a model trained with another tokenizer?)"
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
        options = GenerationOptions(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            beam_width=beam_width,
            length_penalty=length_penalty,
        )
        tokenizer = self._need_tokenizer("generate")
        if isinstance(prompts, str) or not isinstance(prompts, Sequence):
            raise TypeError(
                f"{_NAME}: expected prompts as a list of str,"
                f" got {type(prompts).__name__}"
            )
        prompt_ids = [encode_prompt(tokenizer, p) for p in prompts]
        stop_ids = stop_token_ids(tokenizer, stop)
        stop_texts = as_stops("stop_strings", stop_strings)
        texts = [DecodedText(tokenizer, ids, stop_texts) for ids in prompt_ids]
        if not prompt_ids:
            return []

        if options.beam_width > 1:
            for ids, text in zip(prompt_ids, texts, strict=True):
                is_stopped = text.holds_stop if stop_texts else None
                new = self._beam_search(ids, options, stop_ids, None, is_stopped)
                for new_id in new:
                    text.push(new_id)
            return [t.text for t in texts]

        generator = as_generator(seed, self._device)
        for _ in self._sample(prompt_ids, options, generator, stop_ids, texts):
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
        options = GenerationOptions(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
        )
        tokenizer = self._need_tokenizer("stream")
        ids = encode_prompt(tokenizer, prompt)
        stop_ids = stop_token_ids(tokenizer, stop)
        stop_texts = as_stops("stop_strings", stop_strings)
        text = DecodedText(tokenizer, ids, stop_texts)
        generator = as_generator(seed, self._device)

        def pieces() -> Iterator[str]:
            for _ in self._sample([ids], options, generator, stop_ids, [text]):
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
        options = GenerationOptions(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
            beam_width=beam_width,
            length_penalty=length_penalty,
        )
        prompts = [
            check_ids("prompt_ids", p, self.model.vocab_size) for p in prompts_ids
        ]
        for p in prompts:
            if not p:
                raise ValueError(f"{_NAME}: a prompt has no ids; give at least one")
        stop_set = frozenset(check_ids("stop_ids", stop_ids, self.model.vocab_size))
        if not prompts:
            return []

        if options.beam_width > 1:
            results: list[list[int]] = []
            for b, ids in enumerate(prompts):
                index = torch.tensor([b], device=self._device)
                row_state = None if state is None else _select_rows(state, index)
                new_ids = self._beam_search(ids, options, stop_set, row_state, None)
                results.append(new_ids)
            return results

        generator = as_generator(seed, self._device)
        new: list[list[int]] = [[] for _ in prompts]
        steps = self._sample(prompts, options, generator, stop_set, None, state)
        for picks in steps:
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
        options = GenerationOptions(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            repetition_penalty=repetition_penalty,
        )
        prompt = check_ids("prompt_ids", prompt_ids, self.model.vocab_size)
        if not prompt:
            raise ValueError(f"{_NAME}: prompt_ids is empty; give at least one id")
        stop_set = frozenset(check_ids("stop_ids", stop_ids, self.model.vocab_size))
        generator = as_generator(seed, self._device)

        def ids() -> Iterator[int]:
            for (pick,) in self._sample(
                [prompt], options, generator, stop_set, None, state
            ):
                if pick is not None:
                    yield pick

        return ids()

    # -- the strategies --------------------------------------------------------

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _sample(
        self,
        prompts: list[list[int]],
        options: GenerationOptions,
        generator: torch.Generator,
        stop_ids: frozenset[int],
        texts: list[DecodedText] | None,
        state: State | None = None,
    ) -> Iterator[list[int | None]]:
        """``sample_steps`` with this call's options: per step, each row's
        new id (``None`` for a row that has ended)."""
        return sample_steps(
            self.model,
            prompts,
            state,
            max_new_tokens=options.max_new_tokens,
            temperature=options.temperature,
            top_k=options.top_k,
            top_p=options.top_p,
            repetition_penalty=options.repetition_penalty,
            generator=generator,
            stop_ids=stop_ids,
            texts=texts,
        )

    def _beam_search(
        self,
        prompt: list[int],
        options: GenerationOptions,
        stop_ids: frozenset[int],
        state: State | None,
        is_stopped: Callable[[list[int]], bool] | None,
    ) -> list[int]:
        """``beam_search`` with this call's options: the best continuation of
        one prompt."""
        return beam_search(
            self.model,
            prompt,
            state,
            max_new_tokens=options.max_new_tokens,
            beam_width=options.beam_width,
            length_penalty=options.length_penalty,
            repetition_penalty=options.repetition_penalty,
            stop_ids=stop_ids,
            is_stopped=is_stopped,
        )

    # -- checks ----------------------------------------------------------------

    def _need_tokenizer(self, method: str) -> Tokenizer:
        if self.tokenizer is None:
            raise ValueError(
                f"{_NAME}.{method}: this decoder has no tokenizer; pass one to"
                " SequenceDecoder(model, tokenizer) or use the *_ids methods"
            )
        return self.tokenizer


def _select_rows(state: State, index: Tensor) -> State:
    """The rows ``index`` of every tensor of a state."""
    return map_state(lambda s: s.index_select(0, index), state)
