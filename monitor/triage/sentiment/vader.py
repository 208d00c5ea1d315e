"""VADER's compound score, computed as vaderSentiment 3.3.2 computes it, in a fraction of the time.

``SentimentIntensityAnalyzer.polarity_scores`` rebuilds the text character by character, lowers
every token several times per word it scores, and works out pos/neu/neg shares that triage never
reads. Triage scores every sentence that names a brand, so that overhead was most of its cost.
This module gives the same compound for the same lexicon: it looks at a token's neighbours only
when the token is in the lexicon, which few are. The package's quirks are kept on purpose, so a
score never depends on which of the two computed it; tests/test_vader.py holds the two together.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
)

_NEGATORS = frozenset(NEGATE)
_PUNCTUATION = string.punctuation
_ALPHA = 15  # VADER's normalize(): compound = sum / sqrt(sum² + alpha)
_EXCLAMATION_STEP, _EXCLAMATIONS_COUNTED = 0.292, 4
_QUESTION_STEP, _QUESTIONS_CAPPED = 0.18, 0.96
# Two-word boosters ("kind of") that VADER adds to a word's valence when they precede it.
_TWO_WORD_BOOSTERS = {phrase: value for phrase, value in BOOSTER_DICT.items() if " " in phrase}
_IDIOM_WORDS = frozenset(
    word for phrase in (*SPECIAL_CASES, *_TWO_WORD_BOOSTERS) for word in phrase.split()
)


class Vader:
    """VADER's compound score for a text, with a given lexicon and emoji descriptions."""

    def __init__(self, lexicon: Mapping[str, float], emojis: Mapping[str, str]) -> None:
        self.lexicon = dict(lexicon)
        # VADER replaces emoji one character at a time, so longer keys never match.
        self._emojis = {key: words for key, words in emojis.items() if len(key) == 1}
        self._emoji_set = frozenset(self._emojis)

    def compound(self, text: str) -> float:
        """What ``polarity_scores(text)["compound"]`` returns, rounded to 4 places as VADER does."""
        if not self._emoji_set.isdisjoint(text):
            text = self._spell_emojis(text)
        # Edge punctuation goes, unless so little is left that the token was an emoticon (":)").
        tokens = [
            token if len(stripped := token.strip(_PUNCTUATION)) <= 2 else stripped
            for token in text.split()
        ]
        lowered = list(map(str.lower, tokens))
        lexicon = self.lexicon
        if lexicon.keys().isdisjoint(lowered):
            return 0.0
        scored = [
            index
            for index, word in enumerate(lowered)
            if word in lexicon
            and word not in BOOSTER_DICT
            and not (word == "kind" and lowered[index + 1 : index + 2] == ["of"])
        ]
        if not scored:
            return 0.0
        capitals = sum(map(str.isupper, tokens))
        shouting_stands_out = 0 < capitals < len(tokens)
        valences = {
            index: self._valence(index, tokens, lowered, shouting_stands_out) for index in scored
        }
        if "but" in lowered:
            valences = _weigh_around_but(valences, lowered.index("but"), len(lowered))
        total = float(sum(valences.values()))
        if total == 0:
            return 0.0
        emphasis = _punctuation_emphasis(text)
        total = total + emphasis if total > 0 else total - emphasis
        compound = max(min(total / math.sqrt(total * total + _ALPHA), 1.0), -1.0)
        return round(compound, 4)

    def _valence(self, index: int, tokens: list[str], lowered: list[str], shouting: bool) -> float:
        lexicon = self.lexicon
        word = lowered[index]
        valence = lexicon[word]
        if word == "no" and index != len(lowered) - 1 and lowered[index + 1] in lexicon:
            valence = 0.0  # "no" before a feeling word only introduces it
        if (
            (index > 0 and lowered[index - 1] == "no")
            or (index > 1 and lowered[index - 2] == "no")
            or (index > 2 and lowered[index - 3] == "no" and lowered[index - 1] in ("or", "nor"))
        ):
            valence = lexicon[word] * N_SCALAR
        if shouting and tokens[index].isupper():
            valence = valence + C_INCR if valence > 0 else valence - C_INCR
        for distance in (1, 2, 3):
            if index < distance:
                break
            before = lowered[index - distance]
            if before in lexicon:
                continue
            if boost := BOOSTER_DICT.get(before, 0.0):
                if valence < 0:
                    boost = -boost
                if shouting and tokens[index - distance].isupper():
                    boost = boost + C_INCR if valence > 0 else boost - C_INCR
                if distance > 1:
                    boost *= 0.95 if distance == 2 else 0.9
                valence += boost
            valence = _negated(valence, lowered, index, distance)
            # Most words have no set phrase around them; spelling the phrases out costs more.
            if distance == 3 and not _IDIOM_WORDS.isdisjoint(lowered[index - 3 : index + 3]):
                valence = _idioms(valence, lowered, index)
        before = lowered[index - 1] if index > 0 else ""
        at_least = index > 1 and lowered[index - 2] in ("at", "very")  # "at least" is no "not"
        if before == "least" and before not in lexicon and not at_least:
            valence *= N_SCALAR
        return valence

    def _spell_emojis(self, text: str) -> str:
        out: list[str] = []
        after_space = True
        for char in text:
            words = self._emojis.get(char)
            if words is None:
                out.append(char)
                after_space = char == " "
            else:
                if not after_space:
                    out.append(" ")
                out.append(words)
                after_space = False
        return "".join(out).strip()


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or "n't" in word


def _negated(valence: float, lowered: list[str], index: int, distance: int) -> float:
    """VADER's _negation_check for the word ``distance`` tokens before the scored one."""
    if distance == 1:
        return valence * N_SCALAR if _is_negator(lowered[index - 1]) else valence
    if distance == 2:
        first, second = lowered[index - 2], lowered[index - 1]
        if first == "never" and second in ("so", "this"):
            return valence * 1.25
        if first == "without" and second == "doubt":
            return valence
        return valence * N_SCALAR if _is_negator(first) else valence
    first, second, third = lowered[index - 3], lowered[index - 2], lowered[index - 1]
    if (first == "never" and second in ("so", "this")) or third in ("so", "this"):
        return valence * 1.25
    if first == "without" and (second == "doubt" or third == "doubt"):
        return valence
    return valence * N_SCALAR if _is_negator(first) else valence


def _idioms(valence: float, lowered: list[str], index: int) -> float:
    """VADER's _special_idioms_check: set phrases that override or nudge a word's valence."""
    word, one, two, three = (
        lowered[index],
        lowered[index - 1],
        lowered[index - 2],
        lowered[index - 3],
    )
    for phrase in (
        f"{one} {word}",
        f"{two} {one} {word}",
        f"{two} {one}",
        f"{three} {two} {one}",
        f"{three} {two}",
    ):
        if phrase in SPECIAL_CASES:
            valence = SPECIAL_CASES[phrase]
            break
    if len(lowered) - 1 > index:
        phrase = f"{word} {lowered[index + 1]}"
        if phrase in SPECIAL_CASES:
            valence = SPECIAL_CASES[phrase]
    if len(lowered) - 1 > index + 1:
        phrase = f"{word} {lowered[index + 1]} {lowered[index + 2]}"
        if phrase in SPECIAL_CASES:
            valence = SPECIAL_CASES[phrase]
    for phrase in (f"{three} {two} {one}", f"{three} {two}", f"{two} {one}"):
        valence += _TWO_WORD_BOOSTERS.get(phrase, 0.0)
    return valence


def _weigh_around_but(valences: dict[int, float], but: int, length: int) -> dict[int, float]:
    """VADER's _but_check: halve what comes before the first "but", add half to what follows.

    VADER finds each valence's position with ``list.index``, so of two equal valences it is the
    first that is weighed (twice, if both sit on one side); kept as it does it.
    """
    sentiments = [0.0] * length
    for index, valence in valences.items():
        sentiments[index] = valence
    for position in range(length):
        value = sentiments[position]
        first = sentiments.index(value)
        if first < but:
            sentiments[first] = value * 0.5
        elif first > but:
            sentiments[first] = value * 1.5
    return {index: value for index, value in enumerate(sentiments) if value}


def _punctuation_emphasis(text: str) -> float:
    exclamations = min(text.count("!"), _EXCLAMATIONS_COUNTED) * _EXCLAMATION_STEP
    questions = text.count("?")
    if questions <= 1:
        return exclamations
    return exclamations + (questions * _QUESTION_STEP if questions <= 3 else _QUESTIONS_CAPPED)
