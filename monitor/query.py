"""Brand matching: every term of every brand compiled into one pattern, matched in one pass."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.config import Brand


@dataclass(frozen=True)
class BrandHit:
    """One place in a text that names a brand."""

    brand: str
    text: str  # the words as written in the mention
    start: int
    end: int


class BrandMatcher:
    """Finds which brands a text names.

    Terms and exclusions share one alternation, longest first, so at any position an
    exclusion such as "Acme Hardware" wins over the shorter term "Acme" it contains: a text
    that names only excluded phrases names no brand.
    """

    def __init__(self, brands: Sequence[Brand]) -> None:
        self._owners: dict[str, list[str]] = {}  # lower-cased phrase -> brands; [] = excluded
        excluded = {term.lower() for brand in brands for term in brand.exclude}
        for brand in brands:
            for term in brand.terms:
                key = term.lower()
                if key not in excluded:
                    self._owners.setdefault(key, []).append(brand.name)
        for phrase in excluded:
            self._owners.setdefault(phrase, [])
        alternatives = sorted(self._owners, key=len, reverse=True)
        self._pattern = re.compile(
            r"(?<!\w)(?:" + "|".join(_phrase_pattern(p) for p in alternatives) + r")(?!\w)",
            re.IGNORECASE,
        )

    def find(self, text: str) -> list[BrandHit]:
        """Every place ``text`` names a brand, in order."""
        hits = []
        for match in self._pattern.finditer(text):
            key = match.group(0).lower()
            for brand in self._owners.get(" ".join(key.split()), ()):
                hits.append(BrandHit(brand, match.group(0), match.start(), match.end()))
        return hits


def _phrase_pattern(phrase: str) -> str:
    # Any run of whitespace between words, so "Acme  Cloud" and a line break still match.
    return r"\s+".join(re.escape(word) for word in phrase.split())


def brands_named(hits: Sequence[BrandHit]) -> tuple[str, ...]:
    """The brands the hits name, each once, in order of first appearance."""
    return tuple(dict.fromkeys(hit.brand for hit in hits))
