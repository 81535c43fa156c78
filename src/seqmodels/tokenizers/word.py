"""WordTokenizer: whitespace-separated words, filtered to a character set.

By default a word keeps only its Hangul (syllables, conjoining jamo with Old
Hangul, compatibility jamo) and loses everything else, as in the introductory
course this library starts from: ``"아니하니,"`` becomes ``"아니하니"``, and a
word left empty is dropped. ``lossless=True`` keeps every character instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

from seqmodels.tokenizers._base import BaseTokenizer
from seqmodels.tokenizers._unicode import CHARACTER_CLASSES, is_punctuation, nfc

__all__ = ["WordTokenizer"]

KeepRule = str | Callable[[str], bool]


class WordTokenizer(BaseTokenizer):
    """Words split on whitespace, each reduced to the characters in ``keep``.

    Args:
        keep: the characters a word keeps. A preset, or presets joined with
            ``+``: ``"hangul"`` (syllables, conjoining jamo including Old
            Hangul, compatibility and halfwidth jamo, tone marks),
            ``"hanja"``, ``"latin"``, ``"digits"``, ``"letters"`` (any
            letter, mark or decimal digit). Or a function ``str -> bool``
            called on each character (such a tokenizer cannot be saved).
        lowercase: lower-case the text first (not with ``lossless``).
        punctuation: keep runs of punctuation (categories P*) as tokens of
            their own instead of dropping them: ``"하니,"`` gives ``"하니"``,
            ``","``.
        lossless: keep every character. Runs of whitespace, of kept
            characters, of punctuation (with ``punctuation``) and of anything
            else each become tokens, so ``decode(encode(text))`` is
            ``unicodedata.normalize("NFC", text)`` exactly. It is the NFC form
            that comes back: a compatibility ideograph such as U+F900 comes
            back as its unified ideograph.
        specials: special tokens, ids ``0 .. len(specials) - 1``.
        unk_token: the token unknown words map to; added to ``specials`` if it
            is not there. Without it an unknown word raises
            ``UnknownTokenError``.
        min_freq: drop tokens seen fewer times (see ``Vocabulary.from_tokens``).
        max_size: keep at most this many tokens, specials included.

    ``decode`` joins words with single spaces (without ``lossless``) and
    leaves special tokens out.

    >>> tok = WordTokenizer().fit("나라의 말이 중국과 달라, 서로 통하지 아니하니")
    >>> tok.encode("서로 아니하니.")
    [4, 6]
    >>> tok.decode([0, 1, 3])
    '나라의 말이 달라'
    """

    kind = "word"
    unit = "words"

    def __init__(
        self,
        keep: KeepRule = "hangul",
        *,
        lowercase: bool = False,
        punctuation: bool = False,
        lossless: bool = False,
        specials: Sequence[str] = (),
        unk_token: str | None = None,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> None:
        super().__init__(
            specials=specials, unk_token=unk_token, min_freq=min_freq, max_size=max_size
        )
        for option, value in (
            ("lowercase", lowercase),
            ("punctuation", punctuation),
            ("lossless", lossless),
        ):
            if not isinstance(value, bool):
                raise TypeError(
                    f"WordTokenizer: expected {option} as bool, got "
                    f"{type(value).__name__}"
                )
        if lossless and lowercase:
            raise ValueError(
                "WordTokenizer: lossless=True cannot lowercase; expected "
                "lowercase=False with lossless=True"
            )
        self._keep = keep
        self._is_kept = _keep_rule(keep)
        self._lowercase = lowercase
        self._punctuation = punctuation
        self._lossless = lossless

    @property
    def keep(self) -> KeepRule:
        """The ``keep`` rule as given."""
        return self._keep

    @property
    def lossless(self) -> bool:
        """Whether ``decode(encode(text))`` gives back the NFC text."""
        return self._lossless

    def _prepare(self, text: str) -> str:
        text = nfc(text)
        return nfc(text.lower()) if self._lowercase else text

    def _kind(self, char: str) -> int:
        """0 whitespace, 1 kept, 2 punctuation (if kept apart), 3 other."""
        if char.isspace():
            return 0
        if self._is_kept(char):
            return 1
        if self._punctuation and is_punctuation(char):
            return 2
        return 3

    def _split(self, text: str) -> list[str]:
        # Lossless: every run of one kind is a token, whitespace included.
        if self._lossless:
            return ["".join(run) for _, run in groupby(text, key=self._kind)]

        # Otherwise drop what is not kept from each word, then split the rest
        # into runs of word characters and of punctuation.
        tokens: list[str] = []
        for word in text.split():
            kept = [char for char in word if self._kind(char) in (1, 2)]
            tokens.extend("".join(run) for _, run in groupby(kept, key=self._kind))
        return tokens

    def _join(self, tokens: list[str]) -> str:
        return "".join(tokens) if self._lossless else " ".join(tokens)

    def _options(self) -> dict[str, Any]:
        if not isinstance(self._keep, str):
            raise ValueError(
                "WordTokenizer: cannot save a tokenizer whose keep is a function; "
                f"expected a preset such as 'hangul', got {self._keep!r}"
            )
        return {
            "keep": self._keep,
            "lowercase": self._lowercase,
            "punctuation": self._punctuation,
            "lossless": self._lossless,
            **super()._options(),
        }

    def _keep_hint(self) -> str:
        if self._keep == "hangul":
            return ", or keep='letters' to keep words in any script"
        return ""

    def _describe(self) -> str:
        return f" (keep={self._keep!r})"

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(keep={self._keep!r}, lossless={self._lossless}) "
            f"[{'unfitted' if self._vocab is None else f'V={len(self._vocab)}'}]"
        )


def _keep_rule(keep: KeepRule) -> Callable[[str], bool]:
    """The per-character test for a ``keep`` preset or function."""
    if callable(keep):
        return keep
    if not isinstance(keep, str):
        raise TypeError(
            "WordTokenizer: expected keep as a preset name or a function "
            f"str -> bool, got {type(keep).__name__}"
        )
    names = keep.split("+")
    unknown = [name for name in names if name not in CHARACTER_CLASSES]
    if unknown:
        raise ValueError(
            f"WordTokenizer: unknown keep preset {unknown[0]!r} in {keep!r}; "
            f"expected names from {sorted(CHARACTER_CLASSES)} joined with '+'"
        )
    tests = [CHARACTER_CLASSES[name] for name in names]
    return lambda char: any(test(char) for test in tests)
