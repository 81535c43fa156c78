"""CharTokenizer: one token per user-perceived character (grapheme cluster).

A syllable written as conjoining jamo, Old Hangul included (``"ᄊᆞ"``,
``"ᄇᆡᆼ"``), is one token, as are an emoji with its skin tone, a zero width
joiner family and a flag. Whitespace characters are tokens too, so
``decode(encode(text))`` is the NFC form of ``text``, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqmodels.tokenizers._base import BaseTokenizer
from seqmodels.tokenizers._unicode import graphemes

__all__ = ["CharTokenizer"]


class CharTokenizer(BaseTokenizer):
    """Grapheme clusters of the NFC text, every character kept.

    Args:
        specials: special tokens, ids ``0 .. len(specials) - 1``.
        unk_token: the token unknown characters map to; added to ``specials``
            if it is not there. Without it an unknown character raises
            ``UnknownTokenError``.
        min_freq: drop tokens seen fewer times (see ``Vocabulary.from_tokens``).
        max_size: keep at most this many tokens, specials included.

    ``decode`` concatenates the tokens and leaves special tokens out.

    >>> tok = CharTokenizer().fit("ᄇᆡᆼ 나라")
    >>> list(tok.vocab)
    ['ᄇᆡᆼ', ' ', '나', '라']
    >>> tok.decode(tok.encode("나라 ᄇᆡᆼ"))
    '나라 ᄇᆡᆼ'
    """

    kind = "char"
    unit = "characters"

    def __init__(
        self,
        *,
        specials: Sequence[str] = (),
        unk_token: str | None = None,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> None:
        super().__init__(
            specials=specials, unk_token=unk_token, min_freq=min_freq, max_size=max_size
        )

    def _split(self, text: str) -> list[str]:
        return graphemes(text)

    def _join(self, tokens: list[str]) -> str:
        return "".join(tokens)
