"""Words and phrases found in one pass over a text's tokens, however many lists ask for them.

A text is split into lower-cased word tokens once; every phrase of every rule is indexed by its
first token, so finding all of them costs one walk over the tokens, not one regex scan per list.
Tokens are runs of letters and digits: "down" never matches "download"; "can't" with either apostrophe is
the same two tokens, and any spacing or line break between a phrase's words matches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    """The word tokens of ``text``, case-folded."""
    return _WORD.findall(text.casefold())


def phrase_key(phrase: str) -> str:
    """How a phrase is compared: its tokens joined by single spaces."""
    return " ".join(tokens(phrase))


class PhraseIndex:
    """Every phrase of interest, indexed by its first token."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in phrases:
            words = tuple(tokens(phrase))
            if words and words not in self._by_first.get(words[0], []):
                self._by_first.setdefault(words[0], []).append(words)
        self._firsts = frozenset(self._by_first)

    def found(self, *texts: Sequence[str]) -> set[str]:
        """Keys of the phrases that occur in any of the token lists (phrases never span two)."""
        found: set[str] = set()
        by_first = self._by_first
        for words in texts:
            # Most texts hold none of the first words: one set operation says so, in C.
            for first in self._firsts.intersection(words):
                for phrase in by_first[first]:
                    if len(phrase) == 1:
                        found.add(first)
                    elif any(
                        tuple(words[position : position + len(phrase)]) == phrase
                        for position, word in enumerate(words)
                        if word == first
                    ):
                        found.add(" ".join(phrase))
        return found
