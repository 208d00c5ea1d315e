"""The words an item must contain to name any brand: what lets a source skip reading the rest.

The matcher (``monitor.triage.matcher``) names a brand only where one of the brand's terms, or
one of its query's terms outside NOT, stands in the text whole. Each such term holds all of its
words, so the longest word of every such term, searched for as a substring in any case, finds
every item the matcher could name a brand in (and some more, which cost only a parse).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from monitor.config.query import positive_terms

if TYPE_CHECKING:
    from monitor.config.settings import Brand


def brand_needles(brands: Sequence[Brand]) -> frozenset[str] | None:
    """One lower-cased word per term that can name a brand; None if some brand has no such term."""
    needles: set[str] = set()
    for brand in brands:
        if brand.query is None:
            words = [term.lower().split() for term in brand.terms]
        else:
            words = [list(term.words) for term in positive_terms(brand.query.tree)]
        if not words or not all(words):  # a query that names nothing: no promise to make
            return None
        needles.update(_longest(term_words).lower() for term_words in words)
    return frozenset(needles) if needles else None


def _longest(words: Iterable[str]) -> str:
    return max(words, key=len)
