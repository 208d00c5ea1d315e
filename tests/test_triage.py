"""Triage as comms would check it: is it ours, how does it read, how severe, who hears."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import Brand
from monitor.mention import Mention, Severity
from monitor.rulefiles import load_rules
from monitor.triage import Triage

ACME = Brand(name="Acme", terms=["Acme", "@acme", "#acme", "Acme Cloud"], exclude=["Acme Hardware"])


def write_rules(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "rules.toml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def triage(tmp_path: Path) -> Triage:
    rules = write_rules(
        tmp_path / "rules",
        """
[[rule]]
name = "angry"
description = "very negative"
sentiment_below = -0.5
severity = "urgent"
tags = ["complaint"]

[[rule]]
name = "giveaways"
description = "contest spam is noise"
any_words = ["giveaway"]
severity = "ignore"

[[rule]]
name = "press"
description = "journalists go to the press office"
any_words = ["journalist"]
severity = "high"
notify = ["press"]
""",
    )
    return Triage([ACME], load_rules(rules), alert_groups=["oncall"])


def mention(text: str, title: str = "") -> Mention:
    return Mention(source="test", id="1", text=text, title=title)


@pytest.mark.parametrize(
    "text",
    [
        "I tried Acme today",
        "thanks @acme",
        "#ACME rocks",
        "acme cloud is fine",
        "Acme Hardware and Acme Cloud",
    ],
)
def test_brand_terms_match_in_any_case(triage: Triage, text: str) -> None:
    verdict = triage(mention(text))
    assert verdict.matched
    assert verdict.brands == ("Acme",)


@pytest.mark.parametrize(
    "text", ["Acme Hardware has nails on sale", "acmeology is a word", "Paracme"]
)
def test_excluded_phrases_and_partial_words_are_not_ours(triage: Triage, text: str) -> None:
    verdict = triage(mention(text))
    assert not verdict.matched
    assert verdict.severity is Severity.IGNORE
    assert verdict.reasons == ("names none of the configured brands",)


def test_a_complaint_about_us_beside_praise_for_a_rival_reads_as_a_complaint(
    triage: Triage,
) -> None:
    text = "Globex is wonderful, fast and friendly, I love it! Acme is awful and their support is terrible."
    verdict = triage(mention(text))
    assert verdict.sentiment.label == "negative"
    assert verdict.severity is Severity.URGENT


def test_the_brand_name_itself_carries_no_sentiment(tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "r", '[[rule]]\nname = "all"\ndescription = "everything"\n')
    triage = Triage([Brand(name="Best Buy", terms=["Best Buy"])], load_rules(rules))
    assert triage(mention("Best Buy opens at nine on Saturday")).sentiment.label == "neutral"


def test_the_most_severe_outcome_wins_so_an_ignore_rule_cannot_hide_an_urgent_one(
    triage: Triage,
) -> None:
    verdict = triage(mention("Acme giveaway was a terrible, awful scam, I hate them"))
    assert verdict.rules == ("angry", "giveaways")
    assert verdict.severity is Severity.URGENT


def test_an_ignore_rule_alone_silences_a_mention(triage: Triage) -> None:
    assert triage(mention("Acme giveaway this week")).severity is Severity.IGNORE


def test_no_rule_firing_leaves_a_matched_mention_normal(triage: Triage) -> None:
    verdict = triage(mention("Acme opened an office in Leeds"))
    assert verdict.severity is Severity.NORMAL
    assert verdict.rules == ()


def test_urgent_mentions_go_to_the_default_groups_unless_a_rule_names_its_own(
    triage: Triage,
) -> None:
    assert triage(mention("Acme is awful, terrible, I hate it")).notify == ("oncall",)
    assert triage(mention("A journalist asked about Acme")).notify == ("press",)
    assert triage(mention("Acme opened an office in Leeds")).notify == ()


def test_reasons_say_why_in_words(triage: Triage) -> None:
    verdict = triage(mention("Acme is awful, terrible, I hate it"))
    assert verdict.reasons[0] == "names Acme (“Acme”)"
    assert "negative" in verdict.reasons[1]
    assert any(reason.startswith("angry:") for reason in verdict.reasons)


def test_the_title_counts_too(triage: Triage) -> None:
    verdict = triage(
        mention("They never answered my emails.", title="Acme support is terrible and awful")
    )
    assert verdict.matched
    assert verdict.sentiment.label == "negative"
