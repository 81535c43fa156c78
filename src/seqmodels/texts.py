"""Reference texts used by the examples, tests and benchmarks.

>>> len(HUNMINJEONGEUM_WORDS), len(set(HUNMINJEONGEUM_WORDS))
(44, 43)
"""

from __future__ import annotations

__all__ = ["HUNMINJEONGEUM_PREFACE", "HUNMINJEONGEUM_WORDS"]

HUNMINJEONGEUM_PREFACE = (
    "나라의 말이 중국과 달라 문자와 서로 통하지 아니하니, 이런 까닭으로 어리석은\n"
    "백성이 이르고자 할 바가 있어도 마침내 제 뜻을 능히 펴지 못할 사람이 많으니라.\n"
    "내가 이를 위하여 가없이 여겨 새로 스물여덟 자를 만드노니 사람마다 하여금 쉬이\n"
    "익혀 날로 쓰는 데 편하게 하고자 할 따름이니라.\n"
)
"""The modern Korean translation of the Hunminjeongeum preface (1446).

Split on whitespace with punctuation removed it has 44 words, 43 distinct:
"할" occurs twice, so the word after it is ambiguous without memory.
"""

HUNMINJEONGEUM_WORDS: tuple[str, ...] = tuple(
    HUNMINJEONGEUM_PREFACE.replace(",", "").replace(".", "").split()
)
"""The 44 words of ``HUNMINJEONGEUM_PREFACE`` in text order."""
