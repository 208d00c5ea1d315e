"""VADER sentiment aimed at the parts of a text that name the brand."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.mention import Sentiment
from monitor.query import BrandHit

# VADER's own published cut-offs for its compound score.
NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Brand names carry no feeling of their own ("United", "Best Buy", "Virgin"): each mention of
# the brand is replaced by this before scoring. It is not in VADER's lexicon.
_BRAND_PLACEHOLDER = "brandname"


def label_of(compound: float) -> str:
    if compound <= NEGATIVE_BELOW:
        return "negative"
    if compound >= POSITIVE_ABOVE:
        return "positive"
    return "neutral"


class SentimentScorer:
    """Scores the sentences that name a brand; the whole text when none does."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()

    def score(self, text: str, hits: Sequence[BrandHit] = ()) -> Sentiment:
        compound = float(self._vader.polarity_scores(aimed_text(text, hits))["compound"])
        return Sentiment(compound=round(compound, 4), label=label_of(compound))


def aimed_text(text: str, hits: Sequence[BrandHit]) -> str:
    """The sentences of ``text`` that contain a hit, with the brand's words masked out.

    A post that praises a rival and complains about us should read as a complaint about us,
    so only the sentences naming the brand are scored.
    """
    if not hits:
        return text
    pieces = []
    kept_until = 0
    for start, end in _sentence_spans(text):
        inside = [hit for hit in hits if start <= hit.start < end]
        if not inside or start < kept_until:
            continue
        sentence = []
        cursor = start
        for hit in inside:
            sentence.append(text[cursor : hit.start])
            sentence.append(_BRAND_PLACEHOLDER)
            cursor = hit.end
        sentence.append(text[cursor:end])
        pieces.append("".join(sentence).strip())
        kept_until = end
    return " ".join(pieces) if pieces else text


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, len(text)))
    return spans
