"""DecodedText: the text of one generated row, kept up to date as ids arrive.

Two jobs need the text rather than the ids: stop strings, which may span
several tokens, and streaming, which hands out the text piece by piece. Both
work on ``tokenizer.decode`` of the whole row, prompt included, because a
tokenizer may decode a token differently depending on its neighbours (the
``JamoTokenizer`` composes letters into syllables).

Notes:
    Each new id decodes the whole row again, so a row of ``T`` tokens costs
    ``T`` decodes of up to ``T`` tokens. That is cheap beside the model for
    the lengths generated here.
"""

from __future__ import annotations

import unicodedata

from seqmodels.protocols import Tokenizer

__all__ = ["DecodedText"]


class DecodedText:
    """The decoded text of one row as ids arrive: where a stop string cuts it,
    and which part of it is safe to stream.

    Args:
        tokenizer: decodes the row's ids.
        prompt_ids: the prompt's ids; stop strings are looked for after the
            decoded prompt only.
        stop_strings: text that ends the row; the text stops just before the
            first one found.

    >>> from seqmodels import WordTokenizer
    >>> tok = WordTokenizer().fit("하나 둘 셋 끝")
    >>> text = DecodedText(tok, tok.encode("하나"), ("셋",))
    >>> text.push(tok.encode("둘")[0])
    >>> text.text, text.stopped
    ('하나 둘', False)
    >>> text.push(tok.encode("셋")[0])
    >>> text.text, text.stopped
    ('하나 둘 ', True)
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        prompt_ids: list[int],
        stop_strings: tuple[str, ...],
    ) -> None:
        self.tokenizer = tokenizer
        self.prompt_ids = list(prompt_ids)
        self.ids = list(prompt_ids)
        self.prompt = tokenizer.decode(self.ids)
        self.text = self.prompt
        self.stop_strings = stop_strings
        self.stopped = False
        # What ``piece`` has handed out so far, in NFD so that a jamo that
        # joins the syllable before it still extends the streamed text.
        self._streamed = unicodedata.normalize("NFD", self.prompt)

    def push(self, new_id: int) -> None:
        """Adds ``new_id`` to the row; ``text`` is cut before a stop string
        and ``stopped`` set if one appears."""
        self.ids.append(new_id)
        text = self.tokenizer.decode(self.ids)
        cut = self.find_stop(text)
        if cut is not None:
            text, self.stopped = text[:cut], True
        self.text = text

    def find_stop(self, text: str) -> int | None:
        """The index in ``text`` of the first stop string after the prompt."""
        start = self._continuation_start(text)
        found = [i for s in self.stop_strings if (i := text.find(s, start)) >= 0]
        return min(found) if found else None

    def holds_stop(self, new_ids: list[int]) -> bool:
        """Whether the prompt followed by ``new_ids`` holds a stop string after
        the prompt (for beam search, which tries many continuations)."""
        text = self.tokenizer.decode(self.prompt_ids + new_ids)
        return self.find_stop(text) is not None

    def piece(self, *, final: bool) -> str:
        """The text that came since the last piece, as ``str``.

        Until ``final``, a suffix that may still grow into a stop string is
        held back, and nothing is handed out while the decoded text rewrites
        what was already streamed (it settles as more ids arrive).

        Raises:
            RuntimeError: if, at the end, the decoded text differs from what
                was already streamed.
        """
        visible = self.text
        if not (final or self.stopped):
            visible = visible[: len(visible) - self._undecided_suffix(visible)]

        decomposed = unicodedata.normalize("NFD", visible)
        if not decomposed.startswith(self._streamed):
            if not final:
                return ""  # wait for the tokenizer's text to settle
            raise RuntimeError(
                "SequenceDecoder.stream: the tokenizer's decode changed text that"
                " was already streamed; use generate() with this tokenizer"
            )
        new = decomposed[len(self._streamed) :]
        self._streamed = decomposed
        return unicodedata.normalize("NFC", new)

    def _continuation_start(self, text: str) -> int:
        """Where the continuation starts in ``text``: after the longest common
        prefix with the decoded prompt (the prompt's last character may change
        when a jamo tokenizer composes a syllable)."""
        n = min(len(self.prompt), len(text))
        i = 0
        while i < n and self.prompt[i] == text[i]:
            i += 1
        return i

    def _undecided_suffix(self, text: str) -> int:
        """The length of the longest end of ``text``, after the prompt, that
        is the start of a stop string (0 if none)."""
        start = self._continuation_start(text)
        return max(
            (
                k
                for s in self.stop_strings
                for k in range(1, len(s))
                if len(text) - k >= start and text.endswith(s[:k])
            ),
            default=0,
        )
