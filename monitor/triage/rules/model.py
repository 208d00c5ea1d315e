"""Rules: the conditions comms write and the outcomes they ask for, evaluated on one mention.

Rule files are read by ``monitor.triage.rules.files``; this module only knows what a loaded rule means.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from monitor.config.hours import Days, Hours
from monitor.mention import Mention, Sentiment, Severity
from monitor.triage.rules.mute import Mute
from monitor.triage.rules.phrases import PhraseIndex, phrase_key, tokens
from monitor.triage.spikes import SpikeWatch


class _Words:
    """One word list of a rule, as phrase keys, with the words as the rule file wrote them."""

    def __init__(self, words: Iterable[str]) -> None:
        self.by_key: dict[str, str] = {}
        for word in words:
            self.by_key.setdefault(phrase_key(word), " ".join(word.split()))

    def found(self, present: Collection[str]) -> list[str]:
        """The listed words among the phrase keys ``present`` in a mention, as written."""
        if not present:  # most mentions hold none of the rules' words: the common case is free
            return []
        return [word for key, word in self.by_key.items() if key in present]


@dataclass(frozen=True)
class Rule:
    """One rule: it fires when all its conditions hold, and then asks for its outcomes."""

    name: str
    description: str
    path: str
    line: int
    brands: tuple[str, ...] = ()
    any_words: tuple[str, ...] = ()
    all_words: tuple[str, ...] = ()
    none_words: tuple[str, ...] = ()
    sentiment_below: float | None = None
    sentiment_above: float | None = None
    sources: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    min_followers: int | None = None
    min_engagement: int | None = None
    hours: Hours | None = None  # "22:00-06:00" in the organisation's timezone
    days: Days | None = None  # ["sat", "sun"], in the organisation's timezone
    has_tags: tuple[str, ...] = ()  # tags set by rules read earlier
    severity: Severity | None = None
    overrides: bool = False  # this rule's severity wins even when another is more severe
    tags: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    suppress: bool = False  # alert nobody about this mention, whatever other rules ask
    reply: str | None = None  # suggested reply template, under templates/replies/
    # Set: the rule watches for pile-ons; its severity and notify go to one spike alert, not
    # to each mention.
    spike: SpikeWatch | None = None
    _any: _Words | None = field(init=False, repr=False, compare=False)
    _all: _Words | None = field(init=False, repr=False, compare=False)
    _none: _Words | None = field(init=False, repr=False, compare=False)
    _brand_keys: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    _lang_prefixes: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once here, not per mention; object.__setattr__ because the class is frozen.
        for attribute, words in (
            ("_any", self.any_words),
            ("_all", self.all_words),
            ("_none", self.none_words),
        ):
            object.__setattr__(self, attribute, _Words(words) if words else None)
        brand_keys = tuple((brand.casefold(), brand) for brand in self.brands)
        object.__setattr__(self, "_brand_keys", brand_keys)
        lang_prefixes = tuple((code.casefold(), code.casefold() + "-") for code in self.langs)
        object.__setattr__(self, "_lang_prefixes", lang_prefixes)

    @property
    def words(self) -> tuple[str, ...]:
        """Every word or phrase this rule looks for."""
        return (*self.any_words, *self.all_words, *self.none_words)

    def explain(
        self,
        mention: Mention,
        brands: Sequence[str],
        sentiment: Sentiment,
        present: Collection[str] | None = None,
        *,
        local: datetime | None = None,
        tagged: Collection[str] = (),
    ) -> str | None:
        """None if the rule does not fire; else why it fires, in words a comms person reads.

        ``present`` holds the phrase keys found in the mention (``RuleSet.phrases_in``); triage
        computes it once for all rules. Without it the rule looks for its own words. ``local``
        is when the mention was published, in the organisation's timezone; ``tagged`` holds the
        tags earlier rules set.
        """
        reasons: list[str] = []
        score = sentiment.compound
        if self.sentiment_below is not None:
            if not score < self.sentiment_below:
                return None
            reasons.append(f"sentiment {score:.2f} is below {self.sentiment_below:g}")
        if self.sentiment_above is not None:
            if not score > self.sentiment_above:
                return None
            reasons.append(f"sentiment {score:.2f} is above {self.sentiment_above:g}")
        if present is None and self.words:
            present = PhraseIndex(self.words).found(tokens(mention.title), tokens(mention.text))
        present = present or set()
        if self._any is not None:
            if not (hits := self._any.found(present)):
                return None
            reasons.append(f"mentions {_quoted(hits)}")
        if self._all is not None:
            if len(hits := self._all.found(present)) < len(self._all.by_key):
                return None
            reasons.append(f"mentions all of {_quoted(hits)}")
        if self._none is not None and self._none.found(present):
            return None
        if self.brands:
            named = {brand.casefold() for brand in brands}
            if not (ours := [brand for key, brand in self._brand_keys if key in named]):
                return None
            reasons.append(f"about {', '.join(ours)}")
        if self.sources:
            if mention.source not in self.sources:
                return None
            reasons.append(f"from {mention.source}")
        if self.langs:
            lang = mention.lang.casefold()
            if not any(
                lang == code or lang.startswith(dialects) for code, dialects in self._lang_prefixes
            ):
                return None
            reasons.append(f"in language {mention.lang}")
        if self.min_followers is not None:
            followers = mention.metrics.get("followers")
            if followers is None or followers < self.min_followers:
                return None
            reasons.append(
                f"author has {followers:,.0f} followers (at least {self.min_followers:,})"
            )
        if self.min_engagement is not None:
            engagement = sum(mention.metrics.get(key, 0) for key in ENGAGEMENT)
            if engagement < self.min_engagement:
                return None
            reasons.append(
                f"{engagement:,.0f} likes, shares and replies (at least {self.min_engagement:,})"
            )
        if self.hours is not None or self.days is not None:
            if local is None:
                return None  # no publication time: a time-of-day rule cannot say it applies
            if self.hours is not None and not self.hours.contains(local):
                return None
            if self.days is not None and not self.days.contains(local):
                return None
            reasons.append(f"posted {local:%a %H:%M}")
        if self.has_tags:
            if not (shared := [tag for tag in self.has_tags if tag in tagged]):
                return None
            reasons.append(f"tagged {', '.join(shared)}")
        return f"{self.name}: {'; '.join(reasons) or 'applies to every mention'}"


ENGAGEMENT = ("likes", "reposts", "replies", "quotes", "score", "comments")


def _quoted(words: Iterable[str]) -> str:
    return ", ".join(f'"{word}"' for word in words)


@dataclass(frozen=True)
class RuleSet:
    """Every rule from every rule file, and the files they came from, in load order."""

    rules: tuple[Rule, ...]
    files: tuple[str, ...]
    mutes: tuple[Mute, ...] = ()
    _index: PhraseIndex = field(init=False, repr=False, compare=False)
    _gates: tuple[tuple[Rule, float, float, frozenset[str] | None], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # One index of every rule's words: a mention is walked once, however many rules there are.
        object.__setattr__(
            self,
            "_index",
            PhraseIndex(
                [
                    *(word for rule in self.rules for word in rule.words),
                    *(phrase for mute in self.mutes for phrase in mute.phrases),
                ]
            ),
        )
        gates = tuple(
            (
                rule,
                math.inf if rule.sentiment_below is None else rule.sentiment_below,
                -math.inf if rule.sentiment_above is None else rule.sentiment_above,
                frozenset(rule._any.by_key) if rule._any is not None else None,
            )
            for rule in self.rules
        )
        object.__setattr__(self, "_gates", gates)

    def candidates(self, score: float, present: Collection[str]) -> list[Rule]:
        """The rules, in order, less those whose sentiment or any_words condition fails.

        Most mentions fire no rule; ruling most out in one pass is cheaper than asking each.
        """
        return [
            rule
            for rule, below, above, any_words in self._gates
            if above < score < below and (any_words is None or not any_words.isdisjoint(present))
        ]

    def muted_by(self, mention: Mention, present: Collection[str]) -> str | None:
        """Why a ``[mute]`` list silences the mention, or None."""
        return next((why for mute in self.mutes if (why := mute.muted_by(mention, present))), None)

    def phrases_in(self, mention: Mention) -> set[str]:
        """Keys of the rules' words and phrases that occur in the mention's title or text."""
        return self._index.found(tokens(mention.title), tokens(mention.text))
