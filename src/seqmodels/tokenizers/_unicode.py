"""The Unicode rules of every tokenizer, in one place.

Normalisation: every text is put in NFC first, so decomposed Korean (NFD, as
macOS file names and some web forms write it) gives the same tokens as
composed Korean. NFC also maps the CJK compatibility ideographs
(U+F900–U+FAFF, most of them) to their unified ideographs; a lossless
tokenizer gives back the NFC form.

Character classes (code point blocks):

- Hangul syllables U+AC00–U+D7A3.
- Conjoining jamo U+1100–U+11FF, Jamo Extended-A U+A960–U+A97F and
  Extended-B U+D7B0–U+D7FF, which hold the Old Hangul letters (ᄊ, ᆞ, ᅀ, ...).
- Compatibility jamo U+3130–U+318F (ㅋㅋ) and halfwidth Hangul U+FFA0–U+FFDC.
- Hangul tone marks U+302E–U+302F (the side dots of Middle Korean).
- Hanja: CJK unified ideographs U+4E00–U+9FFF, Extension A U+3400–U+4DBF,
  the supplementary ideographic planes U+20000–U+323AF, and the
  compatibility ideographs U+F900–U+FAFF.
- Latin: letters whose Unicode name begins with ``LATIN``; digits: category
  Nd; punctuation: categories P*; letters: categories L*, M* and Nd.

Grapheme clusters follow the rules of UAX #29 that matter here: CR LF,
controls, the Hangul syllable rules (L, V, T, LV, LVT), combining marks,
spacing marks, variation selectors, emoji modifiers, zero width joiner
sequences and regional indicator pairs. Not handled: the Indic conjunct rule
(GB9c) and most Prepend characters; Extended_Pictographic is approximated by
category So plus the block U+1F000–U+1FAFF. A cluster boundary that is off
never loses text: the clusters always join back to the input.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

__all__ = [
    "CHARACTER_CLASSES",
    "decompose_hangul",
    "graphemes",
    "is_conjoining_jamo",
    "is_digit",
    "is_hangul",
    "is_hangul_syllable",
    "is_hanja",
    "is_latin",
    "is_letter",
    "is_punctuation",
    "nfc",
]

_SYLLABLES = (0xAC00, 0xD7A3)
_CONJOINING = ((0x1100, 0x11FF), (0xA960, 0xA97F), (0xD7B0, 0xD7FF))
_OTHER_HANGUL = (
    (0x3130, 0x318F),  # compatibility jamo
    (0xFFA0, 0xFFDC),  # halfwidth Hangul
    (0x302E, 0x302F),  # tone marks
)
_HANJA = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x323AF),  # Extensions B–H and the compatibility supplement
)


def nfc(text: str) -> str:
    """``text`` in Unicode normalisation form C."""
    return unicodedata.normalize("NFC", text)


def _within(code: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= code <= high for low, high in ranges)


def is_hangul_syllable(char: str) -> bool:
    """A precomposed Hangul syllable (U+AC00–U+D7A3)."""
    return _SYLLABLES[0] <= ord(char) <= _SYLLABLES[1]


def is_conjoining_jamo(char: str) -> bool:
    """A conjoining jamo, modern or Old Hangul."""
    return _within(ord(char), _CONJOINING)


def is_hangul(char: str) -> bool:
    """Any Hangul: syllable, conjoining, compatibility or halfwidth jamo, tone mark."""
    code = ord(char)
    return (
        _SYLLABLES[0] <= code <= _SYLLABLES[1]
        or _within(code, _CONJOINING)
        or _within(code, _OTHER_HANGUL)
    )


def is_hanja(char: str) -> bool:
    """A CJK ideograph: unified, extension or compatibility."""
    return _within(ord(char), _HANJA)


def is_latin(char: str) -> bool:
    """A letter of the Latin script (by its Unicode name)."""
    return unicodedata.category(char).startswith("L") and unicodedata.name(
        char, ""
    ).startswith("LATIN ")


def is_digit(char: str) -> bool:
    """A decimal digit of any script (category Nd)."""
    return unicodedata.category(char) == "Nd"


def is_letter(char: str) -> bool:
    """A letter, a mark or a decimal digit of any script (L*, M*, Nd)."""
    category = unicodedata.category(char)
    return category[0] in "LM" or category == "Nd"


def is_punctuation(char: str) -> bool:
    """Punctuation (categories Pc, Pd, Ps, Pe, Pi, Pf, Po)."""
    return unicodedata.category(char).startswith("P")


CHARACTER_CLASSES: dict[str, Callable[[str], bool]] = {
    "hangul": is_hangul,
    "hanja": is_hanja,
    "latin": is_latin,
    "digits": is_digit,
    "letters": is_letter,
}
"""The named classes a ``keep`` preset is made of (``"hangul+hanja"``)."""


# -- Hangul jamo arithmetic ---------------------------------------------------

_L_BASE, _V_BASE, _T_BASE = 0x1100, 0x1161, 0x11A7
_V_COUNT, _T_COUNT = 21, 28


def decompose_hangul(char: str) -> str:
    """A syllable as its conjoining jamo (L, V and maybe T); others unchanged.

    The same as the syllable's canonical decomposition, so NFC composes the
    jamo back into the syllable.
    """
    index = ord(char) - _SYLLABLES[0]
    if not 0 <= index <= _SYLLABLES[1] - _SYLLABLES[0]:
        return char
    lead = chr(_L_BASE + index // (_V_COUNT * _T_COUNT))
    vowel = chr(_V_BASE + index % (_V_COUNT * _T_COUNT) // _T_COUNT)
    tail = index % _T_COUNT
    return lead + vowel + (chr(_T_BASE + tail) if tail else "")


# -- grapheme clusters (UAX #29, the rules this library needs) ----------------

_CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI = "CR", "LF", "Control", "Extend", "ZWJ", "RI"
_PREPEND, _SPACING, _L, _V, _T, _LV, _LVT = "Prepend", "SM", "L", "V", "T", "LV", "LVT"
_OTHER = "Other"

_PREPEND_CHARS = frozenset(
    "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2"
)
_EXTEND_EXTRA = ((0x200C, 0x200C), (0xFF9E, 0xFF9F), (0x1F3FB, 0x1F3FF))
_TAGS = (0xE0020, 0xE007F)


def _break_property(char: str) -> str:
    code = ord(char)
    if char == "\r":
        return _CR
    if char == "\n":
        return _LF
    if code == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= code <= 0x1F1FF:
        return _RI
    if char in _PREPEND_CHARS:
        return _PREPEND
    if 0xAC00 <= code <= 0xD7A3:
        return _LV if (code - 0xAC00) % _T_COUNT == 0 else _LVT
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return _L
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return _V
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return _T
    if _within(code, _EXTEND_EXTRA) or _TAGS[0] <= code <= _TAGS[1]:
        return _EXTEND

    category = unicodedata.category(char)
    if category in ("Mn", "Me"):
        return _EXTEND
    if category == "Mc":
        return _SPACING
    if category in ("Cc", "Cf", "Zl", "Zp", "Cs"):
        return _CONTROL
    return _OTHER


def _is_pictographic(char: str) -> bool:
    code = ord(char)
    if 0x1F1E6 <= code <= 0x1F1FF:  # regional indicators are not pictographs
        return False
    return 0x1F000 <= code <= 0x1FAFF or unicodedata.category(char) == "So"


_HANGUL_PAIRS = frozenset(
    [(_L, x) for x in (_L, _V, _LV, _LVT)]
    + [(p, c) for p in (_LV, _V) for c in (_V, _T)]
    + [(_LVT, _T), (_T, _T)]
)


def graphemes(text: str) -> list[str]:
    """Split ``text`` into grapheme clusters; ``"".join`` gives ``text`` back.

    >>> graphemes("ᄊᆞ미 👍🏽!")
    ['ᄊᆞ', '미', ' ', '👍🏽', '!']
    """
    if not text:
        return []
    clusters: list[str] = []
    start = 0
    previous = _break_property(text[0])
    regional_run = 1 if previous == _RI else 0  # RIs in a row before here
    pictograph = _is_pictographic(text[0])  # ExtPict Extend* ends here
    pictograph_zwj = False  # ExtPict Extend* ZWJ ends here

    for index in range(1, len(text)):
        char = text[index]
        current = _break_property(char)
        joined = (previous == _CR and current == _LF) or (
            previous not in (_CONTROL, _CR, _LF)
            and current not in (_CONTROL, _CR, _LF)
            and (
                (previous, current) in _HANGUL_PAIRS
                or current in (_EXTEND, _ZWJ, _SPACING)
                or previous == _PREPEND
                or (pictograph_zwj and _is_pictographic(char))
                or (current == _RI and regional_run % 2 == 1)
            )
        )
        if not joined:
            clusters.append(text[start:index])
            start = index

        pictograph_zwj = current == _ZWJ and pictograph
        pictograph = _is_pictographic(char) or (current == _EXTEND and pictograph)
        regional_run = regional_run + 1 if current == _RI else 0
        previous = current

    clusters.append(text[start:])
    return clusters
