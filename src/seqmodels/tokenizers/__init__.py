"""Tokenizers: text to ids and back, with the Unicode rules in one place.

- ``WordTokenizer``: whitespace-separated words, filtered to a character set
  (Hangul by default), or lossless.
- ``CharTokenizer``: grapheme clusters.
- ``JamoTokenizer``: Hangul as conjoining jamo, other text as characters.

Every tokenizer normalises to NFC first and saves to one JSON file format;
``load_tokenizer(path)`` reads any of them back.
"""

from __future__ import annotations

import os

from seqmodels.tokenizers._base import BaseTokenizer, NotFittedError, check_header
from seqmodels.tokenizers.char import CharTokenizer
from seqmodels.tokenizers.jamo import JamoTokenizer
from seqmodels.tokenizers.word import WordTokenizer
from seqmodels.vocabulary import read_json

__all__ = [
    "CharTokenizer",
    "JamoTokenizer",
    "NotFittedError",
    "WordTokenizer",
    "load_tokenizer",
]

_TYPES: dict[str, type[BaseTokenizer]] = {
    cls.kind: cls for cls in (WordTokenizer, CharTokenizer, JamoTokenizer)
}


def load_tokenizer(
    path: str | os.PathLike[str],
) -> WordTokenizer | CharTokenizer | JamoTokenizer:
    """Read a tokenizer file of any type, as written by ``save``.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "tok.json")
    >>> CharTokenizer().fit("가나").save(path)
    >>> load_tokenizer(path)
    CharTokenizer(specials=[], unk_token=None, min_freq=1, max_size=None) [V=2]
    """
    data = read_json(path, "load_tokenizer")
    check_header(data, f"load_tokenizer: {path}")
    cls = _TYPES.get(data["type"])
    if cls is None:
        raise ValueError(
            f"load_tokenizer: {path} holds an unknown tokenizer type "
            f"{data['type']!r}; expected one of {sorted(_TYPES)}"
        )
    tokenizer = cls.from_dict(data, source=str(path))
    assert isinstance(tokenizer, (WordTokenizer, CharTokenizer, JamoTokenizer))
    return tokenizer
