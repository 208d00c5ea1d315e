"""Sentiment as Harken reads it: VADER's own scores, aimed at the brand, never guessed."""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.config import Brand
from monitor.query import BrandMatcher
from monitor.sentiment import SentimentScorer, aimed_text

SCORER = SentimentScorer()
VADER = SentimentIntensityAnalyzer()

# Texts where a shortcut could go wrong: emoji, emoticons, slang, negation, boosters alone,
# punctuation glued to words, capitals, and plain statements with no feeling at all.
TRICKY = [
    "The store opens at nine.",
    "Order 5521 shipped on Tuesday",
    "not bad at all",
    "very very",
    "kind of",
    "😡",
    "love it ❤️",
    ":) see you there",
    "meh :(",
    "LOL",
    "GREAT!!!",
    "(terrible)",
    "no.",
    "the bomb",
    "kiss of death",
    "yeah right",
    "ok",
    "it's fine... I guess",
    "wtf",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_scores_are_exactly_vaders_where_no_brand_is_named(text: str) -> None:
    expected = round(VADER.polarity_scores(text)["compound"], 4)
    assert SCORER.score(text).compound == expected


def test_only_the_sentences_about_the_brand_and_the_one_after_are_read() -> None:
    matcher = BrandMatcher([Brand(name="Acme", terms=["Acme"])])
    text = (
        "Globex is brilliant. I adore Globex. Acme lost my parcel. Still no answer! Globex rocks."
    )
    assert aimed_text(text, matcher.find(text)) == "brandname lost my parcel. Still no answer!"


def test_the_brand_word_is_masked_before_scoring() -> None:
    matcher = BrandMatcher([Brand(name="Best Buy", terms=["Best Buy"])])
    text = "Best Buy opens at nine"
    assert VADER.polarity_scores(text)["compound"] > 0.5  # plain VADER calls it praise
    assert SCORER.score(text, matcher.find(text)).label == "neutral"
