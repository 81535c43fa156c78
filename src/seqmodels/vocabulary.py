"""Vocabulary: an ordered list of tokens whose ids are their positions.

The order is always explicit or first occurrence, never the iteration order of
a set, so the same text gives the same ids in every process whatever
``PYTHONHASHSEED`` is. Special tokens (``<pad>``, ``<unk>``, ``<bos>``,
``<eos>`` or any others) come first, in the order given.

A vocabulary travels with a model as JSON (``save``/``load``,
``to_dict``/``from_dict``). The file carries a ``format`` name, a ``version``
and a ``fingerprint`` (SHA-256 of the canonical JSON of the specials and the
tokens) that ``load`` checks, so a file edited by hand or truncated is refused
instead of silently shifting ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["UnknownTokenError", "Vocabulary"]


class UnknownTokenError(KeyError, ValueError):
    """A token that is not in the vocabulary.

    Both a ``KeyError`` (a failed lookup) and a ``ValueError`` (bad input to
    ``encode``), so either ``except`` clause catches it. ``token`` holds the
    token, ``component`` the class that looked it up.
    """

    def __init__(
        self,
        component: str,
        token: str,
        vocab_size: int,
        remedy: str = "add it when building the vocabulary",
    ) -> None:
        self.component = component
        self.token = token
        self.vocab_size = vocab_size
        self.remedy = remedy
        message = (
            f"{component}: {token!r} is not in the vocabulary "
            f"({vocab_size} tokens); {remedy}"
        )
        super().__init__(message)

    def __str__(self) -> str:
        # KeyError.__str__ would show the message in quotes, as repr.
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.component, self.token, self.vocab_size, self.remedy),
        )


class Vocabulary:
    """Ordered tokens: ids are positions, specials first.

    Args:
        tokens: the ordinary tokens, in id order after the specials. No
            duplicates, and none equal to a special.
        specials: special tokens, placed first in the order given.

    Build one from a stream of tokens with ``from_tokens``; ids then follow
    first occurrence.

    >>> vocab = Vocabulary.from_tokens("나라 의 말 의".split(), specials=["<unk>"])
    >>> list(vocab)
    ['<unk>', '나라', '의', '말']
    >>> vocab.id("말"), vocab.token(1), vocab.unk_id, vocab.pad_id
    (3, '나라', 0, None)
    """

    FORMAT: ClassVar[str] = "seqmodels.vocabulary"
    VERSION: ClassVar[int] = 1
    PAD: ClassVar[str] = "<pad>"
    UNK: ClassVar[str] = "<unk>"
    BOS: ClassVar[str] = "<bos>"
    EOS: ClassVar[str] = "<eos>"

    def __init__(self, tokens: Iterable[str], *, specials: Iterable[str] = ()) -> None:
        specials = _check_tokens("specials", specials)
        tokens = _check_tokens("tokens", tokens)
        everything = specials + tokens
        if not everything:
            raise ValueError(
                "Vocabulary: expected at least one token or special, got none"
            )

        self._ids: dict[str, int] = {}
        for position, token in enumerate(everything):
            if token in self._ids:
                raise ValueError(
                    f"Vocabulary: token {token!r} appears twice (positions "
                    f"{self._ids[token]} and {position}); tokens must be unique"
                )
            self._ids[token] = position
        self._tokens = everything
        self._specials = specials

    @classmethod
    def from_tokens(
        cls,
        tokens: Iterable[str],
        *,
        specials: Iterable[str] = (),
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> Vocabulary:
        """Build a vocabulary from a stream of tokens (repeats allowed).

        With the defaults, ids follow first occurrence. With ``min_freq > 1``
        or a ``max_size``, tokens seen fewer than ``min_freq`` times are left
        out and the rest are ordered by frequency, most frequent first, ties
        by first occurrence; ``max_size`` then keeps the first ones so that the
        whole vocabulary, specials included, has at most ``max_size`` tokens.
        Tokens equal to a special are not added a second time.
        """
        specials = _check_tokens("specials", specials)
        _check_positive("min_freq", min_freq)
        if max_size is not None:
            _check_positive("max_size", max_size)
            if max_size <= len(specials):
                raise ValueError(
                    f"Vocabulary: max_size={max_size} leaves no room for tokens "
                    f"after {len(specials)} specials; expected more than "
                    f"{len(specials)}"
                )

        # Counter keeps insertion order, so its keys are in first occurrence.
        counts = Counter(t for t in _check_tokens("tokens", tokens))
        for special in specials:
            counts.pop(special, None)
        ordered = list(counts)
        if min_freq > 1 or max_size is not None:
            ordered = [t for t in ordered if counts[t] >= min_freq]
            ordered.sort(key=lambda t: -counts[t])  # stable: ties keep order
        if max_size is not None:
            ordered = ordered[: max_size - len(specials)]

        if not ordered:
            raise ValueError(
                f"Vocabulary: no token occurs at least min_freq={min_freq} "
                f"times (got {sum(counts.values())} tokens); lower min_freq"
            )
        return cls(ordered, specials=specials)

    # -- lookups ---------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._tokens)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def id(self, token: str) -> int:
        """The id of ``token``; ``UnknownTokenError`` if it is absent."""
        if not isinstance(token, str):
            raise TypeError(
                f"Vocabulary: expected a str token, got {type(token).__name__}"
            )
        try:
            return self._ids[token]
        except KeyError:
            raise UnknownTokenError("Vocabulary", token, len(self)) from None

    def get(self, token: str, default: int | None = None) -> int | None:
        """The id of ``token``, or ``default`` if it is absent."""
        return self._ids.get(token, default)

    def token(self, id: int) -> str:
        """The token with id ``id``; ``ValueError`` if out of range."""
        if isinstance(id, bool) or not isinstance(id, int):
            raise TypeError(f"Vocabulary: expected an int id, got {type(id).__name__}")
        if not 0 <= id < len(self._tokens):
            raise ValueError(
                f"Vocabulary: id {id} is out of range for a vocabulary of "
                f"{len(self)} tokens; expected 0 <= id < {len(self)}"
            )
        return self._tokens[id]

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order, specials first."""
        return self._tokens

    @property
    def specials(self) -> tuple[str, ...]:
        """The special tokens, in id order (ids ``0 .. len(specials) - 1``)."""
        return self._specials

    def is_special(self, id: int) -> bool:
        """Whether id ``id`` belongs to a special token."""
        return 0 <= id < len(self._specials)

    @property
    def pad_id(self) -> int | None:
        """The id of ``<pad>`` if it is a special, else None."""
        return self._special_id(self.PAD)

    @property
    def unk_id(self) -> int | None:
        """The id of ``<unk>`` if it is a special, else None."""
        return self._special_id(self.UNK)

    @property
    def bos_id(self) -> int | None:
        """The id of ``<bos>`` if it is a special, else None."""
        return self._special_id(self.BOS)

    @property
    def eos_id(self) -> int | None:
        """The id of ``<eos>`` if it is a special, else None."""
        return self._special_id(self.EOS)

    def _special_id(self, token: str) -> int | None:
        return self._ids[token] if token in self._specials else None

    # -- identity --------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the specials and tokens.

        The same in every process and on every platform; it changes whenever a
        token, a special or the order changes.
        """
        canonical = json.dumps(
            {
                "specials": list(self._specials),
                "tokens": list(self._tokens[len(self._specials) :]),
            },
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self._tokens == other._tokens and self._specials == other._specials

    __hash__ = None  # type: ignore[assignment]  # mutable-looking, compared by value

    def __repr__(self) -> str:
        head = list(self._tokens[len(self._specials) :][:5])
        more = ", ..." if len(self._tokens) - len(self._specials) > 5 else ""
        return (
            f"Vocabulary({len(self)} tokens, specials={list(self._specials)}, "
            f"tokens={str(head)[:-1]}{more}])"
        )

    # -- files -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: format, version, specials, tokens, fingerprint."""
        return {
            "format": self.FORMAT,
            "version": self.VERSION,
            "specials": list(self._specials),
            "tokens": list(self._tokens[len(self._specials) :]),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "vocabulary data"
    ) -> Vocabulary:
        """Rebuild a vocabulary from ``to_dict`` output, checking everything.

        ``source`` names where the data came from in error messages.
        """
        where = f"Vocabulary: {source}"
        if not isinstance(data, Mapping):
            raise ValueError(
                f"{where}: expected a JSON object, got {type(data).__name__}"
            )
        if data.get("format") != cls.FORMAT or data.get("version") != cls.VERSION:
            raise ValueError(
                f"{where}: expected format {cls.FORMAT!r} version {cls.VERSION}, "
                f"got format {data.get('format')!r} version {data.get('version')!r}"
            )
        tokens, specials = data.get("tokens"), data.get("specials")
        if not isinstance(tokens, list) or not isinstance(specials, list):
            raise ValueError(f"{where}: expected 'tokens' and 'specials' lists")
        try:
            vocab = cls(tokens, specials=specials)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None
        if data.get("fingerprint") != vocab.fingerprint:
            raise ValueError(
                f"{where}: fingerprint mismatch (file says "
                f"{data.get('fingerprint')!r}, tokens give {vocab.fingerprint!r});"
                " the tokens were changed after saving"
            )
        return vocab

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary to ``path`` as UTF-8 JSON (atomically)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocabulary:
        """Read a vocabulary written by ``save``; ``ValueError`` if it is bad."""
        return cls.from_dict(read_json(path, "Vocabulary"), source=str(path))


def write_json(path: str | os.PathLike[str], data: Mapping[str, Any]) -> None:
    """Write ``data`` as UTF-8 JSON; a crash never leaves half a file."""
    target = Path(path)
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_json(path: str | os.PathLike[str], component: str) -> Any:
    """Read a UTF-8 JSON file; ``ValueError`` naming the file if it is not JSON,
    ``FileNotFoundError`` naming ``component`` if there is no such file."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"{component}: expected a path (str or os.PathLike),"
            f" got {type(path).__name__}"
        )
    if Path(path).is_dir():
        raise IsADirectoryError(f"{component}: {path} is a folder, expected a file")
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except FileNotFoundError:
        raise FileNotFoundError(f"{component}: no such file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{component}: {path} is not a JSON file ({error})") from None


def _check_tokens(what: str, tokens: Iterable[str]) -> tuple[str, ...]:
    if isinstance(tokens, (str, bytes)):
        raise TypeError(
            f"Vocabulary: expected {what} as an iterable of str, got "
            f"{type(tokens).__name__} (wrap a single token in a list)"
        )
    if not isinstance(tokens, Iterable):
        raise TypeError(
            f"Vocabulary: expected {what} as an iterable of str, got "
            f"{type(tokens).__name__}"
        )
    checked = tuple(tokens)
    for token in checked:
        if not isinstance(token, str):
            raise TypeError(
                f"Vocabulary: expected {what} of type str, got "
                f"{type(token).__name__} ({token!r})"
            )
        if not token:
            raise ValueError(f"Vocabulary: expected non-empty {what}, got ''")
    return checked


def _check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"Vocabulary: expected {name} as int, got {type(value).__name__}"
        )
    if value < 1:
        raise ValueError(f"Vocabulary: expected {name} >= 1, got {value}")
