"""Mention + rules -> Verdict. Pure: no I/O, no clock, the same in the daemon and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo

from monitor.config.settings import Brand
from monitor.mention import Mention, Severity, Verdict
from monitor.triage.matcher import BrandMatcher, brands_named
from monitor.triage.rules.model import RuleSet
from monitor.triage.rules.mute import MUTED_TAG
from monitor.triage.sentiment.scorer import NEUTRAL, SentimentScorer


class Triage:
    """Decides, for each mention, whether it is ours, how it reads, and who must see it."""

    def __init__(
        self,
        brands: Sequence[Brand],
        rules: RuleSet,
        *,
        alert_groups: Sequence[str] = (),
        alert_from: Severity = Severity.URGENT,
        scorer: SentimentScorer | None = None,
        timezone: str = "UTC",
        source_kinds: Mapping[str, str] | None = None,  # source name -> kind, for source:
        max_text_chars: int = 50_000,
    ) -> None:
        self.rules = rules
        self._matcher = BrandMatcher(brands, source_kinds)
        self._scorer = scorer or SentimentScorer()
        self._alert_groups = tuple(alert_groups)
        self._alert_from = alert_from
        self._timezone = ZoneInfo(timezone)  # where "hours" and "days" in rules are read
        self._max_text_chars = max_text_chars

    def __call__(self, mention: Mention) -> Verdict:
        # Only the start of a huge post is read (a pasted log, a hostile payload): it then costs
        # what a long article costs. The verdict keeps the whole mention.
        limit = self._max_text_chars
        read = mention
        if len(mention.text) > limit or len(mention.title) > limit:
            read = replace(mention, text=mention.text[:limit], title=mention.title[:limit])
        text = f"{read.title}\n{read.text}" if read.title else read.text
        hits = self._matcher.match(read, text)
        if not hits:
            # Sentiment is aimed at the brand; with no brand there is nothing to aim at, and
            # scoring text we are about to drop would be most of the cost of triage.
            return Verdict(
                mention=mention,
                matched=False,
                brands=(),
                sentiment=NEUTRAL,
                severity=Severity.IGNORE,
                reasons=("names none of the configured brands",),
            )
        brands = brands_named(hits)
        sentiment = self._scorer.score(text, hits)
        reasons = [
            f"names {', '.join(brands)} (“{hits[0].text}”)",
            f"reads {sentiment.label} ({sentiment.compound:+.2f}) where it names the brand",
        ]
        local = mention.published.astimezone(self._timezone) if mention.published else None
        fired: list[str] = []
        tags: dict[str, None] = {}  # ordered sets
        notify: dict[str, None] = {}
        severity: Severity | None = None
        overriding: Severity | None = None
        suppressed, reply = False, ""
        present = self.rules.phrases_in(read)
        for rule in self.rules.candidates(sentiment.compound, present):
            reason = rule.explain(read, brands, sentiment, present, local=local, tagged=tags)
            if reason is None:
                continue
            fired.append(rule.name)
            reasons.append(reason)
            tags.update(dict.fromkeys(rule.tags))
            if rule.spike is not None:
                continue  # its outcomes belong to the spike alert, counted over many mentions
            notify.update(dict.fromkeys(rule.notify))
            suppressed = suppressed or rule.suppress
            reply = reply or (rule.reply or "")
            if rule.severity is None:
                continue
            # The most severe outcome wins, so a broad "ignore" cannot hide an urgent match,
            # unless a rule says it overrides (our own account's posts, say).
            if rule.overrides:
                if overriding is None or rule.severity.rank > overriding.rank:
                    overriding = rule.severity
            elif severity is None or rule.severity.rank > severity.rank:
                severity = rule.severity
        severity = overriding or severity
        if severity is None:
            severity = Severity.NORMAL
            reasons.append("no rule set a severity, so it is normal")
        if severity.rank >= self._alert_from.rank and not notify:
            notify = dict.fromkeys(self._alert_groups)
        if suppressed and notify:
            notify = {}
            reasons.append("a rule suppresses alerts for it")
        if muted := self.rules.muted_by(read, present):
            # Stored and counted like any mention, tagged so a digest can count them apart.
            notify = {}
            tags[MUTED_TAG] = None
            reasons.append(muted)
        return Verdict(
            mention=mention,
            matched=True,
            brands=brands,
            sentiment=sentiment,
            severity=severity,
            rules=tuple(fired),
            tags=tuple(tags),
            notify=tuple(notify),
            reasons=tuple(reasons),
            reply=reply,
        )
