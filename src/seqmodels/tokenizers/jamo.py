"""JamoTokenizer: Hangul as its letters, everything else as characters.

Each precomposed syllable becomes its conjoining jamo (lead consonant L,
vowel V and, if any, tail consonant T: ``"한"`` is ``"ᄒ"``, ``"ᅡ"``,
``"ᆫ"``), and Old Hangul written in conjoining jamo splits the same way.
Every other grapheme cluster is one token. ``decode`` joins the tokens and
composes them with NFC, so ``decode(encode(text))`` is the NFC form of
``text`` exactly, including jamo sequences that have no precomposed syllable.

Compatibility jamo (``ㅋ``, U+3131–U+318E) are not canonically equivalent to
conjoining jamo and stay as they are: one token each.
"""

from __future__ import annotations

from collections.abc import Sequence

from seqmodels.tokenizers._base import BaseTokenizer
from seqmodels.tokenizers._unicode import (
    decompose_hangul,
    graphemes,
    is_conjoining_jamo,
    is_hangul_syllable,
    nfc,
)

__all__ = ["JamoTokenizer"]


class JamoTokenizer(BaseTokenizer):
    """Conjoining jamo for Hangul, grapheme clusters for everything else.

    Args:
        specials: special tokens, ids ``0 .. len(specials) - 1``.
        unk_token: the token unknown jamo or characters map to; added to
            ``specials`` if it is not there. Without it an unknown one raises
            ``UnknownTokenError``.
        min_freq: drop tokens seen fewer times (see ``Vocabulary.from_tokens``).
        max_size: keep at most this many tokens, specials included.

    ``decode`` leaves special tokens out and composes the jamo with NFC.

    >>> tok = JamoTokenizer().fit("한글 ᄒᆞᆫ")
    >>> tok.tokenize("한")
    ['ᄒ', 'ᅡ', 'ᆫ']
    >>> tok.decode(tok.encode("글한 ᄒᆞᆫ"))
    '글한 ᄒᆞᆫ'
    """

    kind = "jamo"
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
        tokens: list[str] = []
        for cluster in graphemes(text):
            head = cluster[0]
            if is_hangul_syllable(head) or is_conjoining_jamo(head):
                # Every code point of a Hangul cluster is a token of its own.
                tokens.extend("".join(decompose_hangul(c) for c in cluster))
            else:
                tokens.append(cluster)
        return tokens

    def _join(self, tokens: list[str]) -> str:
        # The tokens of a text are canonically equivalent to it, so NFC
        # composes them back into exactly the NFC text.
        return nfc("".join(tokens))
