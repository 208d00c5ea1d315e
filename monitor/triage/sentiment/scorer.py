"""VADER sentiment aimed at the parts of a text that name the brand, with a complaint lexicon."""

from __future__ import annotations

import functools
import math
import re
import string
from bisect import bisect_left
from collections.abc import Sequence
from functools import cache

from vaderSentiment.vaderSentiment import NEGATE, SentimentIntensityAnalyzer, normalize

from monitor.mention import Sentiment
from monitor.triage.matcher import BrandHit
from monitor.triage.sentiment.lexicon import Lexicon, load_lexicon, term_key, token_keys
from monitor.triage.sentiment.vader import Vader

# VADER's own published cut-offs for its compound score.
NEGATIVE_BELOW = -0.05
POSITIVE_ABOVE = 0.05

# The mark stays with its sentence. Written to start with one character class, which lets the
# regex engine skip to the next candidate instead of trying both branches at every character.
_SENTENCE_END = re.compile(r"[.!?\n](?:(?<=[.!?])\s+|(?<=\n)\n*)")
# Names carry no feeling of their own: each mention of the brand ("United", "Best Buy",
# "Virgin") is replaced by a word VADER does not know, and handles ("@happy_dave") and links are
# dropped, which also spares VADER reading them.
_BRAND_PLACEHOLDER = "brandname"
# The look-behind sits after the "@" so that each branch starts with a plain character, which
# lets the regex engine skip ahead to the next "@" or "h": four times faster on tweets.
_STRETCHED = re.compile(r"([a-z])\1{2,}", re.IGNORECASE)  # "sooo", "baaad", "NOOO"
_EDGE_PUNCTUATION = string.punctuation
_HANDLES_AND_LINKS = re.compile(r"@(?<![\w@]@)\w+|https?://\S+")
# What may stand between the edge of a post and the brand when the post is addressed to it:
# other handles, hashtags, links, "RT", "cc" and punctuation ("@acme why is it down?", "… @acme").
_ADDRESS_FILLER = re.compile(r"(?:[^\w@#]|[@#]\w+|https?://\S+|\b(?:rt|cc|via)\b)*", re.IGNORECASE)
# A term is found on VADER's tokens and scored through a marker token put before it. Three
# neutral guard tokens keep VADER's own negation (which reaches three tokens back) off the
# marker: whether a "not" turns a phrase around is decided here, by _NEGATION_REACH.
_MARKER, _NEGATED_MARKER, _GUARDS = "hkterm{}", "hknegated{}", ["hkgap"] * 3
_NEGATION_REACH = 2  # "not on hold", "isn't even on hold"; farther back it is another clause
_NEGATORS = frozenset(term_key(word) for word in NEGATE) | {"no"}  # as term keys: "dont"
_NEGATION_SCALAR = -0.74  # VADER's N_SCALAR: what a "not" does to a word's valence
_VADER_ALPHA = 15  # VADER's normalize(): compound = sum / sqrt(sum² + alpha)


NEUTRAL = Sentiment(compound=0.0, label="neutral")


@functools.cache
def default_lexicon() -> Lexicon:
    """The shipped lexicon file, read and checked once per process."""
    return load_lexicon()


class SentimentScorer:
    """Scores the sentences that name a brand; each sentence of the text when none does.

    The most negative sentence decides when one reads negative, since one complaint about us is
    what comms must see whatever else a post says; otherwise the most positive one. The compound
    is that of the sentences reading that way, taken together.
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon if lexicon is not None else default_lexicon()
        self.analyzer = SentimentIntensityAnalyzer()
        words = dict(self.analyzer.lexicon)  # a copy: the package's own stays as shipped
        for word, valence in self.lexicon.words.items():
            if valence:
                words[word] = valence
            else:
                words.pop(word, None)
        self._terms = self.lexicon.matcher.terms
        for index, term in enumerate(self._terms):
            words[_MARKER.format(index)] = term.valence
            words[_NEGATED_MARKER.format(index)] = term.valence * _NEGATION_SCALAR
        self.analyzer.lexicon = words
        self.vader = Vader(words, self.analyzer.emojis)
        self._first_keys = self.lexicon.matcher.first_keys

    def score(self, text: str, hits: Sequence[BrandHit] = ()) -> Sentiment:
        """How ``text`` reads where ``hits`` name the brand, and the sentence that decided."""
        negative: list[float] = []
        positive: list[float] = []
        most_negative = most_positive = (0.0, "")
        for written, masked in aimed_sentences(text, hits):
            compound = self.sentence_compound(masked)
            if compound < 0:
                negative.append(compound)
                most_negative = min(most_negative, (compound, written), key=lambda pair: pair[0])
            elif compound > 0:
                positive.append(compound)
                most_positive = max(most_positive, (compound, written), key=lambda pair: pair[0])
        if most_negative[0] <= NEGATIVE_BELOW:
            return Sentiment(_together(negative), "negative", most_negative[1])
        if most_positive[0] >= POSITIVE_ABOVE:
            return Sentiment(_together(positive), "positive", most_positive[1])
        # Faint either way: neutral, and no sentence decided it.
        faint = round(
            most_negative[0] if -most_negative[0] > most_positive[0] else most_positive[0], 4
        )
        return Sentiment(faint, "neutral") if faint else NEUTRAL

    def sentence_compound(self, sentence: str) -> float:
        """VADER's compound for one sentence, with the lexicon's words, phrases and patterns."""
        if _STRETCHED.search(sentence):
            sentence = self._unstretched(sentence)
        keys = token_keys(sentence, sentence.lower().split())
        if not self._first_keys.isdisjoint(keys):
            tokens = sentence.split()
            if len(tokens) == len(keys) and (found := self.lexicon.matcher.find(keys, tokens)):
                return self.vader.compound(self._marked(tokens, keys, found))
        return self.vader.compound(sentence)

    def _unstretched(self, sentence: str) -> str:
        """The sentence with words drawn out for emphasis ("sooo baaad") written plainly.

        VADER knows "bad" but not "baaad". A word with a letter three times or more in a row
        that VADER does not know is replaced by the first of its shortenings it does know: the
        run cut to two letters ("goood" -> "good"), else to one ("baaad" -> "bad").
        """
        words = sentence.split()
        for index, word in enumerate(words):
            core = word.strip(_EDGE_PUNCTUATION)
            key = core.lower()
            if not _STRETCHED.search(key) or key in self.vader.lexicon:
                continue
            for shorter in (_STRETCHED.sub(r"\1\1", key), _STRETCHED.sub(r"\1", key)):
                if shorter in self.vader.lexicon or shorter in self._first_keys:
                    written = shorter.upper() if core.isupper() else shorter
                    words[index] = word.replace(core, written, 1)
                    break
        return " ".join(words)

    def _marked(
        self, tokens: Sequence[str], keys: Sequence[str], found: Sequence[tuple[int, int, int]]
    ) -> str:
        """The sentence with a marker token before each term found, for VADER to score."""
        out = list(tokens)
        for start, end, index in reversed(found):  # from the right, so positions hold
            before = keys[max(start - _NEGATION_REACH, 0) : start]
            negated = self._terms[index].negation == "flips" and not _NEGATORS.isdisjoint(before)
            marker = (_NEGATED_MARKER if negated else _MARKER).format(index)
            shouted = "".join(tokens[start:end]).isupper()  # VADER boosts a word in capitals
            out[start:start] = [word.upper() if shouted else word for word in (*_GUARDS, marker)]
        return " ".join(out)


def _together(compounds: Sequence[float]) -> float:
    """VADER's compound for sentences that read the same way, as if scored as one text.

    A complaint told in three sentences is stronger than any one of them, as VADER would say of
    the whole; severity rules (``sentiment_below = -0.8``) rely on that. VADER's compound is
    its sum of valences squashed into -1..1, so the sums are recovered, added, squashed again.
    """
    if len(compounds) == 1:
        return round(compounds[0], 4)
    total = 0.0
    for compound in compounds:
        bounded = max(min(compound, 0.9999), -0.9999)  # VADER rounds to 4 places; 1.0 is rare
        total += bounded * math.sqrt(_VADER_ALPHA / (1 - bounded * bounded))
    return round(float(normalize(total, _VADER_ALPHA)), 4)


def aimed_sentences(text: str, hits: Sequence[BrandHit]) -> list[tuple[str, str]]:
    """The sentences to score, each as written and with the brand's own words masked.

    A post that praises a rival and complains about us should read as a complaint about us, so
    only the sentences naming the brand are read, each with the sentence after it, because people
    go on about the brand without naming it again ("Acme billed me twice. Still no refund!").
    A post that opens or closes with the brand's handle ("@acme my order never came", "… @acme")
    is addressed to it, so all of it is read. With no brand named, every sentence is read.
    The brand's own words are masked (a brand called "United" or "Best Buy" is not praise) and
    other handles and links are dropped.
    """
    spans = _sentence_spans(text)
    ordered = sorted(hits, key=lambda hit: hit.start)
    keep: Sequence[int]
    if not ordered or len(spans) == 1 or _addressed(text, ordered):
        keep = range(len(spans))
    else:
        kept: dict[int, None] = {}
        hit_index = 0
        for index, (start, end) in enumerate(spans):
            while hit_index < len(ordered) and ordered[hit_index].start < start:
                hit_index += 1
            if hit_index < len(ordered) and ordered[hit_index].start < end:
                kept[index] = None
                kept[min(index + 1, len(spans) - 1)] = None
        keep = sorted(kept)
    # Each sentence looks only at its own hits, found by bisection: a post naming the brand in
    # every one of thousands of sentences must cost what its length costs, not its square.
    starts = [hit.start for hit in ordered]
    sentences = []
    for index in keep:
        start, end = spans[index]
        pieces, cursor = [], start
        for hit in ordered[bisect_left(starts, start) : bisect_left(starts, end)]:
            if hit.names or _not_a_feeling(hit.text):
                pieces += [text[cursor : hit.start], _BRAND_PLACEHOLDER]
                cursor = hit.end
        pieces.append(text[cursor:end])
        masked = _HANDLES_AND_LINKS.sub("", "".join(pieces)).strip()
        if masked:
            sentences.append((text[start:end].strip(), masked))
    return sentences


def _not_a_feeling(words: str) -> bool:
    # A query's other words are masked too unless they are a word VADER gives a feeling to:
    # "Acme Hardware" is a name in all but the config; "awful" must keep its weight.
    return words.casefold().strip() not in _vader_words()


@cache
def _vader_words() -> frozenset[str]:
    return frozenset(SentimentIntensityAnalyzer().lexicon)


def aimed_text(text: str, hits: Sequence[BrandHit]) -> str:
    """The masked sentences that are scored, joined: what sentiment is read from."""
    return " ".join(masked for _, masked in aimed_sentences(text, hits))


def _addressed(text: str, ordered: Sequence[BrandHit]) -> bool:
    """Whether the post opens or closes with the brand's handle or hashtag, only other handles,
    hashtags, links and punctuation beside it: then the whole post is said to the brand."""
    first, last = ordered[0], ordered[-1]
    return bool(
        (_is_handle(text, first) and _ADDRESS_FILLER.fullmatch(text, 0, first.start))
        or (_is_handle(text, last) and _ADDRESS_FILLER.fullmatch(text, last.end))
    )


def _is_handle(text: str, hit: BrandHit) -> bool:
    # A brand named plainly at the edge may be the last word of a comparison ("… than Acme").
    return hit.text.startswith(("@", "#")) or text[hit.start - 1 : hit.start] in ("@", "#")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    start = 0
    for boundary in _SENTENCE_END.finditer(text):
        end = boundary.start()
        spans.append((start, end + 1 if text[end] in ".!?" else end))
        start = boundary.end()
    spans.append((start, len(text)))
    return spans
