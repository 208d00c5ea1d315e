"""VADER sentiment aimed at the parts of a text that name the brand."""

from __future__ import annotations

import re
import string
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


NEUTRAL = Sentiment(compound=0.0, label="neutral")


class SentimentScorer:
    """Scores the sentences that name a brand; the whole text when none does."""

    def __init__(self) -> None:
        self._vader = SentimentIntensityAnalyzer()
        self._lexicon = frozenset(self._vader.lexicon)
        self._emoji = frozenset(key for key in self._vader.emojis if len(key) == 1)

    def score(self, text: str, hits: Sequence[BrandHit] = ()) -> Sentiment:
        aimed = aimed_text(text, hits)
        if not self._could_carry_sentiment(aimed):
            return NEUTRAL
        compound = float(self._vader.polarity_scores(aimed)["compound"])
        return Sentiment(compound=round(compound, 4), label=label_of(compound))

    def _could_carry_sentiment(self, text: str) -> bool:
        """False only when VADER would certainly score 0: no emoji and no word of its lexicon.

        VADER gives a word valence only by looking it up in its lexicon (after turning emoji into
        words), so a text with neither scores exactly 0. Many mentions are plain statements, and
        this check costs a fraction of VADER's own pass. Tokens are cut as VADER cuts them.
        """
        if not self._emoji.isdisjoint(text):
            return True
        lexicon = self._lexicon
        for token in text.lower().split():
            stripped = token.strip(string.punctuation)
            if (stripped if len(stripped) > 2 else token) in lexicon:
                return True
        return False


def aimed_text(text: str, hits: Sequence[BrandHit]) -> str:
    """The sentences of ``text`` that name the brand, each with the sentence after it.

    A post that praises a rival and complains about us should read as a complaint about us,
    so only what is said around the brand is scored; the next sentence is kept because people
    go on about the brand without naming it again ("Acme billed me twice. Still no refund!").
    The brand's own words are masked: a brand called "United" or "Best Buy" is not praise.
    """
    if not hits:
        return text
    spans = _sentence_spans(text)
    keep: dict[int, None] = {}
    hit_index = 0
    ordered = sorted(hits, key=lambda hit: hit.start)
    for index, (start, end) in enumerate(spans):
        while hit_index < len(ordered) and ordered[hit_index].start < start:
            hit_index += 1
        if hit_index < len(ordered) and ordered[hit_index].start < end:
            keep[index] = None
            keep[min(index + 1, len(spans) - 1)] = None
    pieces = []
    for index in sorted(keep):
        start, end = spans[index]
        sentence, cursor = [], start
        for hit in ordered:
            if start <= hit.start < end:
                sentence += [text[cursor : hit.start], _BRAND_PLACEHOLDER]
                cursor = hit.end
        sentence.append(text[cursor:end])
        pieces.append("".join(sentence).strip())
    return " ".join(pieces)


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        spans.append((start, boundary.start()))
        start = boundary.end()
    spans.append((start, len(text)))
    return spans
