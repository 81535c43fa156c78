"""What every tokenizer shares: fitting, ids, errors and the file format.

A tokenizer file is UTF-8 JSON::

    {"format": "seqmodels.tokenizer", "version": 1, "type": "word",
     "options": {...}, "vocab": {... Vocabulary.to_dict() ...}}

A subclass says how a prepared (NFC) text splits into tokens and how tokens
join back; this class does the rest.
"""

from __future__ import annotations

import operator
import os
from collections import abc
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from typing_extensions import Self

from seqmodels.tokenizers._unicode import nfc
from seqmodels.vocabulary import UnknownTokenError, Vocabulary, read_json, write_json

__all__ = ["FORMAT", "VERSION", "BaseTokenizer", "NotFittedError"]

FORMAT = "seqmodels.tokenizer"
VERSION = 1


class NotFittedError(ValueError, AttributeError):
    """A tokenizer used before ``fit`` or ``load`` gave it a vocabulary.

    Also an ``AttributeError``, so that ``hasattr(tokenizer, "vocab")`` (and
    so ``isinstance(tokenizer, Tokenizer)``) is False rather than an error.
    """


class BaseTokenizer:
    """Fit, encode, decode, save and load around ``_split`` and ``_join``."""

    kind: ClassVar[str] = ""
    """The ``type`` written to files (``"word"``, ``"char"``, ``"jamo"``)."""

    unit: ClassVar[str] = "tokens"
    """What the tokens are, for messages (``"words"``)."""

    def __init__(
        self,
        *,
        specials: Sequence[str] = (),
        unk_token: str | None = None,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> None:
        name = type(self).__name__
        if isinstance(specials, (str, bytes)) or not isinstance(specials, Sequence):
            raise TypeError(
                f"{name}: expected specials as a sequence of str, got "
                f"{type(specials).__name__}"
            )
        if unk_token is not None and not isinstance(unk_token, str):
            raise TypeError(
                f"{name}: expected unk_token as str or None, got "
                f"{type(unk_token).__name__}"
            )
        self._specials = tuple(specials)
        if unk_token is not None and unk_token not in self._specials:
            self._specials += (unk_token,)
        self._unk_token = unk_token
        self._min_freq = min_freq
        self._max_size = max_size
        self._vocab: Vocabulary | None = None

        # Check the options now rather than at fit time.
        for special in self._specials:
            if not isinstance(special, str) or not special:
                raise TypeError(
                    f"{name}: expected specials as non-empty str, got {special!r}"
                )
        if len(set(self._specials)) != len(self._specials):
            raise ValueError(f"{name}: specials repeat a token: {specials!r}")
        for option, value in (("min_freq", min_freq), ("max_size", max_size)):
            if value is None and option == "max_size":
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f"{name}: expected {option} as int, got {type(value).__name__}"
                )
        if min_freq < 1:
            raise ValueError(f"{name}: expected min_freq >= 1, got {min_freq}")
        if max_size is not None and max_size <= len(self._specials):
            raise ValueError(
                f"{name}: expected max_size > {len(self._specials)} (the number "
                f"of specials), got {max_size}"
            )

    # -- what a subclass provides ---------------------------------------------

    def _prepare(self, text: str) -> str:
        """The text the tokens are taken from: NFC (and more, in subclasses)."""
        return nfc(text)

    def _split(self, text: str) -> list[str]:
        raise NotImplementedError

    def _join(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        """The constructor's keyword arguments, JSON-ready."""
        return {
            "specials": list(self._specials),
            "unk_token": self._unk_token,
            "min_freq": self._min_freq,
            "max_size": self._max_size,
        }

    def _keep_hint(self) -> str:
        """A remedy for text with nothing kept; subclasses with a ``keep`` rule
        say which rule would keep it."""
        return ""

    def _describe(self) -> str:
        """What the tokenizer keeps, for error messages."""
        return ""

    # -- the vocabulary --------------------------------------------------------

    @property
    def vocab(self) -> Vocabulary:
        """The fitted vocabulary; ``NotFittedError`` before ``fit``/``load``."""
        if self._vocab is None:
            name = type(self).__name__
            raise NotFittedError(
                f"{name}: not fitted yet; call fit(texts) first or load a "
                f"saved tokenizer with {name}.load(path)"
            )
        return self._vocab

    @property
    def vocab_size(self) -> int:
        """``len(self.vocab)``: V, the number of ids."""
        return len(self.vocab)

    def fit(self, texts: str | Iterable[str]) -> Self:
        """Build the vocabulary from a text or texts; replaces any earlier one."""
        name = type(self).__name__
        given: object = texts  # checked at run time, whatever the hints say
        if isinstance(given, str):
            given = [given]
        elif isinstance(given, (bytes, bytearray)) or not isinstance(
            given, abc.Iterable
        ):
            raise TypeError(
                f"{name}.fit: expected a str or an iterable of str, got "
                f"{type(given).__name__}"
            )

        tokens: list[str] = []
        for position, text in enumerate(given):
            if not isinstance(text, str):
                raise TypeError(
                    f"{name}.fit: expected every text as str, got "
                    f"{type(text).__name__} at position {position}"
                )
            tokens.extend(self._split(self._prepare(text)))
        if not tokens:
            raise ValueError(
                f"{name}: fit found no {self.unit} to keep in the text"
                f"{self._describe()}; give it non-empty text" + self._keep_hint()
            )

        try:
            self._vocab = Vocabulary.from_tokens(
                tokens,
                specials=self._specials,
                min_freq=self._min_freq,
                max_size=self._max_size,
            )
        except ValueError as error:
            message = str(error).removeprefix("Vocabulary: ")
            raise ValueError(f"{name}.fit: {message}") from None
        return self

    # -- ids -------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` (before the vocabulary maps them to ids)."""
        if not isinstance(text, str):
            raise TypeError(
                f"{type(self).__name__}: expected text as str, got "
                f"{type(text).__name__}"
            )
        return self._split(self._prepare(text))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, ``[T]``.

        An unknown token maps to ``unk_token``'s id if one is configured and
        raises ``UnknownTokenError`` (a ``ValueError``) naming it otherwise.
        """
        vocab = self.vocab
        tokens = self.tokenize(text)
        unk = None if self._unk_token is None else vocab.id(self._unk_token)
        ids: list[int] = []
        for token in tokens:
            found = vocab.get(token, unk)
            if found is None:
                raise UnknownTokenError(
                    type(self).__name__,
                    token,
                    len(vocab),
                    "fit on text that contains it or configure unk_token",
                )
            ids.append(found)
        return ids

    def decode(self, ids: Sequence[int], *, skip_specials: bool = True) -> str:
        """The text of token ids ``[T]``.

        Special tokens (``<pad>``, ``<unk>``, ...) are left out unless
        ``skip_specials`` is False, which writes them as their strings.
        """
        name = type(self).__name__
        vocab = self.vocab
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise TypeError(
                f"{name}.decode: expected a sequence of int ids, got "
                f"{type(ids).__name__}"
            )
        tokens: list[str] = []
        for raw in ids:
            if isinstance(raw, bool):
                raise TypeError(f"{name}.decode: expected int ids, got bool {raw}")
            try:
                index = operator.index(raw)
            except TypeError:
                raise TypeError(
                    f"{name}.decode: expected int ids, got {type(raw).__name__}"
                ) from None
            if not 0 <= index < len(vocab):
                raise ValueError(
                    f"{name}.decode: id {index} is out of range for a vocabulary "
                    f"of {len(vocab)} tokens; expected 0 <= id < {len(vocab)}"
                )
            if not (skip_specials and vocab.is_special(index)):
                tokens.append(vocab.token(index))
        return self._join(tokens)

    # -- files -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready content of a tokenizer file."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "type": self.kind,
            "options": self._options(),
            "vocab": self.vocab.to_dict(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write options and vocabulary to ``path`` as UTF-8 JSON."""
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "tokenizer data") -> Self:
        """Rebuild a tokenizer from ``to_dict`` output, checking everything."""
        where = f"{cls.__name__}.load: {source}"
        check_header(data, where)
        if data["type"] != cls.kind:
            raise ValueError(
                f"{where} holds a {data['type']!r} tokenizer, expected "
                f"{cls.kind!r}; use load_tokenizer(path) to load any type"
            )
        options = data.get("options")
        if not isinstance(options, dict):
            raise ValueError(f"{where}: expected an 'options' object")
        try:
            tokenizer = cls(**options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: bad options ({error})") from None

        vocab = Vocabulary.from_dict(data.get("vocab", {}), source=source)
        if vocab.specials != tokenizer._specials:
            raise ValueError(
                f"{where}: the vocabulary's specials {list(vocab.specials)} "
                f"differ from the options' {list(tokenizer._specials)}"
            )
        tokenizer._vocab = vocab
        return tokenizer

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Read a tokenizer written by ``save``; refuses a file of another type."""
        return cls.from_dict(read_json(path, cls.__name__), source=str(path))

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self._options().items())
        fitted = "unfitted" if self._vocab is None else f"V={len(self._vocab)}"
        return f"{type(self).__name__}({options}) [{fitted}]"


def check_header(data: Any, where: str) -> None:
    """Raise ``ValueError`` unless ``data`` starts like a tokenizer file."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(
            f"{where}: expected format {FORMAT!r} version {VERSION}, got "
            f"format {data.get('format')!r} version {data.get('version')!r}"
        )
    if not isinstance(data.get("type"), str):
        raise ValueError(f"{where}: expected a 'type' string")
