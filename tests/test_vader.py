"""Harken's VADER gives the compound the vaderSentiment package gives, text for text."""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SentimentIntensityAnalyzer

from monitor.triage.sentiment.scorer import SentimentScorer
from monitor.triage.sentiment.vader import Vader

PACKAGE = SentimentIntensityAnalyzer()

# The package's own showcase, and texts aimed at each of its rules: boosters near and far,
# "but" with equal valences on both sides, "no" before a feeling word, "least", "kind of",
# "never so", idioms, capitals among lower case, emoji glued to words, and ! and ? counts.
DOCUMENTED = [
    "VADER is smart, handsome, and funny.",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    "Sentiment analysis has never been this good!",
    "With VADER, sentiment analysis is the shit!",
    "On the other hand, VADER is quite bad ass",
    "bad bad but bad bad good good",
    "good good but good",
    "no problem at all",
    "no good or bad",
    "least good, at least good, very least good",
    "it was kind of awful kind",
    "yeah right, the bomb, kiss of death, to die for",
    "hi😀there 💔",
    "what?? why??? really????",
    "GREAT service but TERRIBLE app",
    "I was sort of happy",
    "",
    "   ",
]


def vader_words() -> list[str]:
    lexicon: list[str] = sorted(PACKAGE.lexicon)
    rules = ["but", "BUT", "no", "not", "never", "so", "this", "least", "at", "very", "kind"]
    rules += ["of", "without", "doubt", "the", "shit", "or", "nor", "yeah", "right", "sort"]
    boosters: list[str] = sorted(BOOSTER_DICT)
    negators: list[str] = NEGATE
    return lexicon[::40] + rules + boosters[::3] + negators[::4] + ["😀", "💔", ":)"]


def generated(count: int, seed: int) -> list[str]:
    """Short texts dense in VADER's words and rules, some shouted, some with ! and ?."""
    words = vader_words()
    chance = random.Random(seed)
    texts = []
    for _ in range(count):
        picked = [chance.choice(words) for _ in range(chance.randint(1, 10))]
        shouted = [word.upper() if chance.random() < 0.2 else word for word in picked]
        texts.append(" ".join(shouted) + chance.choice(["", "!", "?", "!!!!!", "??", "?!?!"]))
    return texts


@pytest.mark.parametrize("text", DOCUMENTED)
def test_documented_texts_score_as_the_package_scores_them(text: str) -> None:
    vader = Vader(PACKAGE.lexicon, PACKAGE.emojis)
    assert vader.compound(text) == PACKAGE.polarity_scores(text)["compound"]


def test_thousands_of_texts_dense_in_vaders_rules_score_the_same() -> None:
    vader = Vader(PACKAGE.lexicon, PACKAGE.emojis)
    differ = [
        (text, vader.compound(text), PACKAGE.polarity_scores(text)["compound"])
        for text in generated(4000, seed=11)
        if vader.compound(text) != PACKAGE.polarity_scores(text)["compound"]
    ]
    assert differ == []


def test_harkens_extended_lexicon_scores_the_same_as_the_package_given_it() -> None:
    # Triage scores with the lexicon file's words and markers added; the package, handed the
    # same lexicon, is the reference.
    scorer = SentimentScorer()
    extended = scorer.analyzer  # the package's analyzer, its lexicon replaced by triage's
    texts = [*DOCUMENTED, *generated(1000, seed=12), "the outage is a joke", "glitchy app!!"]
    differ = [
        text
        for text in texts
        if scorer.vader.compound(text) != extended.polarity_scores(text)["compound"]
    ]
    assert differ == []
