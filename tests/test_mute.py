"""Mute: an author or a phrase comms marked as noise stops alerting, and is still stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config.settings import Brand
from monitor.errors import RulesError
from monitor.mention import Mention, Severity
from monitor.triage.rules.files import load_rules
from monitor.triage.verdict import Triage

ACME = Brand(name="Acme", terms=["Acme", "@acme"])
RULES = """
[[rule]]
name = "angry"
description = "very negative"
sentiment_below = -0.5
severity = "urgent"
tags = ["complaint"]
"""
MUTE = """
[mute]
authors = ["@TrollBot", "spam_reviews"]
phrases = ["acme giveaway"]
"""
ANGRY = "Acme is a scam, terrible service, they stole my money!"


def triage_with(tmp_path: Path, mute: str) -> Triage:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "complaints.toml").write_text(RULES, encoding="utf-8")
    (folder / "mute.toml").write_text(mute, encoding="utf-8")
    return Triage([ACME], load_rules(folder), alert_groups=["oncall"])


def post(text: str, author: str = "someone", published: datetime | None = None) -> Mention:
    return Mention(source="test", id="1", text=text, author=author, published=published)


@pytest.mark.parametrize("author", ["trollbot", "@trollbot", "TrollBot", " Spam_Reviews"])
def test_a_muted_authors_negative_mention_does_not_alert(tmp_path: Path, author: str) -> None:
    verdict = triage_with(tmp_path, MUTE)(post(ANGRY, author=author))

    assert verdict.matched  # still stored, and read as it reads
    assert verdict.severity is Severity.URGENT
    assert not verdict.needs_alert
    assert "muted" in verdict.tags
    assert any(
        reason.startswith("muted: author ") and "mute.toml:2" in reason
        for reason in verdict.reasons
    )


def test_a_muted_phrase_does_not_alert(tmp_path: Path) -> None:
    verdict = triage_with(tmp_path, MUTE)(post(f"Acme  Giveaway! {ANGRY}"))

    assert not verdict.needs_alert
    assert 'muted: mentions "acme giveaway" (' in " ".join(verdict.reasons)


def test_a_mention_nobody_muted_still_alerts(tmp_path: Path) -> None:
    verdict = triage_with(tmp_path, MUTE)(post(ANGRY, author="a_real_customer"))

    assert verdict.needs_alert
    assert verdict.notify == ("oncall",)
    assert "muted" not in verdict.tags


def test_a_mute_with_until_stops_muting_after_that_day(tmp_path: Path) -> None:
    triage = triage_with(tmp_path, MUTE + "until = 2026-01-31\n")

    before = triage(post(ANGRY, "trollbot", datetime(2026, 1, 31, 23, 0, tzinfo=UTC)))
    after = triage(post(ANGRY, "trollbot", datetime(2026, 2, 1, 9, 0, tzinfo=UTC)))

    assert not before.needs_alert
    assert after.needs_alert


def test_a_typo_in_the_mute_table_is_named_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as raised:
        triage_with(tmp_path, '\n[mute]\nauthors = ["x"]\nphrasse = ["acme giveaway"]\n')

    message = str(raised.value)
    assert 'mute.toml:4:1: mute: unknown key "phrasse" (did you mean "phrases"?)' in message


def test_a_misnamed_mute_table_gets_a_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(
        RulesError, match=r'mute.toml:2:1: unknown table "mutes".*did you mean "mute"'
    ):
        triage_with(tmp_path, '\n[mutes]\nauthors = ["x"]\n')
