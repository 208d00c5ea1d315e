"""Triage as comms would check it: is it ours, how does it read, how severe, who hears."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config.settings import Brand
from monitor.errors import RulesError
from monitor.mention import Mention, Severity
from monitor.triage.rules.files import load_rules
from monitor.triage.verdict import Triage

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


def triage_with(tmp_path: Path, rules_text: str, timezone: str = "UTC") -> Triage:
    folder = write_rules(tmp_path / "more", rules_text)
    return Triage([ACME], load_rules(folder), alert_groups=["oncall"], timezone=timezone)


def test_hours_and_days_are_read_in_the_organisations_timezone(tmp_path: Path) -> None:
    triage = triage_with(
        tmp_path,
        '[[rule]]\nname = "night"\ndescription = "nobody watches at night"\nhours = "22:00-06:00"\n'
        'days = ["sat", "sun"]\nseverity = "high"\n',
        timezone="Europe/London",
    )
    saturday_night = datetime(2026, 7, 4, 22, 30, tzinfo=UTC)  # 23:30 in London (BST)
    saturday_noon = datetime(2026, 7, 4, 12, 0, tzinfo=UTC)
    friday_night = datetime(2026, 7, 3, 22, 0, tzinfo=UTC)  # 23:00 Friday in London
    post = "Acme opened an office"
    assert triage(Mention("t", "1", post, published=saturday_night)).severity is Severity.HIGH
    assert triage(Mention("t", "2", post, published=saturday_noon)).severity is Severity.NORMAL
    assert triage(Mention("t", "3", post, published=friday_night)).severity is Severity.NORMAL
    assert triage(Mention("t", "4", post)).severity is Severity.NORMAL  # no time, no time rule


def test_engagement_and_tags_from_earlier_rules(tmp_path: Path) -> None:
    triage = triage_with(
        tmp_path,
        '[[rule]]\nname = "billing"\ndescription = "money"\nany_words = ["refund"]\ntags = ["billing"]\n\n'
        '[[rule]]\nname = "viral-billing"\ndescription = "money, loudly"\nhas_tags = ["billing"]\n'
        'min_engagement = 100\nseverity = "urgent"\n',
    )
    quiet = Mention("t", "1", "Acme owes me a refund", metrics={"likes": 3})
    loud = Mention("t", "2", "Acme owes me a refund", metrics={"likes": 80, "reposts": 30})
    assert triage(quiet).rules == ("billing",)
    verdict = triage(loud)
    assert verdict.rules == ("billing", "viral-billing")
    assert verdict.severity is Severity.URGENT


def test_an_overriding_rule_wins_and_suppress_silences_alerts(tmp_path: Path) -> None:
    triage = triage_with(
        tmp_path,
        '[[rule]]\nname = "angry"\ndescription = "very negative"\nsentiment_below = -0.5\nseverity = "urgent"\n\n'
        '[[rule]]\nname = "our-own"\ndescription = "our support account quoting customers"\n'
        'any_words = ["acmesupport"]\nseverity = "low"\noverrides = true\nsuppress = true\n'
        'reply = "none-needed"\n',
    )
    verdict = triage(
        Mention("t", "1", "acmesupport: Acme is awful, terrible, I hate it (quoting a customer)")
    )
    assert verdict.severity is Severity.LOW
    assert verdict.notify == ()
    assert verdict.reply == "none-needed"
    assert (
        triage(Mention("t", "2", "Acme is awful, terrible, I hate it")).severity is Severity.URGENT
    )


def test_a_bad_span_of_hours_is_a_rule_file_problem(tmp_path: Path) -> None:
    folder = write_rules(
        tmp_path / "bad", '[[rule]]\nname = "n"\ndescription = "d"\nhours = "late"\n'
    )
    with pytest.raises(RulesError) as caught:
        load_rules(folder)
    assert 'rules.toml:4:1: rule "n": hours: "late" is not a span of hours' in str(caught.value)


def test_a_querys_feeling_words_keep_their_feeling_while_the_name_is_masked(tmp_path: Path) -> None:
    brand = Brand(
        name="Acme", terms=["Acme", "Acme Cloud"], query='"Acme Cloud" AND (awful OR terrible)'
    )
    rules = write_rules(tmp_path / "r", '[[rule]]\nname = "all"\ndescription = "everything"\n')
    triage = Triage([brand], load_rules(rules))
    verdict = triage(Mention("t", "1", "Acme Cloud is awful today"))
    assert verdict.matched
    assert verdict.sentiment.label == "negative"  # "awful" was not masked as if it were a name
