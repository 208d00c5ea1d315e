"""Correcting verdicts on the web, as people do it over real HTTP: a responder's label shows on
the mention with who and when, "not ours" shows in the inbox, the quality page counts
agreement per week; viewers and forged forms are refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.storage import Label, MentionQuery
from monitor.web.labels import weekly_agreement
from tests.test_retention import write_config
from tests.web import Inbox, csrf_of, serve


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    write_config(tmp_path, "")
    yield from serve(tmp_path)


def correct(inbox: Inbox, who: str, mention_id: int, kind: str, value: str, note: str = "") -> int:
    with inbox.signed_in(who) as client:
        token = csrf_of(client.get(f"/mentions/{mention_id}").text)
        data = {"csrf": token, "kind": kind, "value": value, "note": note}
        return client.post(f"/mentions/{mention_id}/labels", data=data).status_code


def test_a_responder_corrects_the_sentiment_and_the_mention_shows_who_and_when(
    inbox: Inbox,
) -> None:
    assert correct(inbox, "rory", inbox.outage_id, "sentiment", "neutral", "a status page") == 303

    with inbox.signed_in("vic") as client:
        page = client.get(f"/mentions/{inbox.outage_id}").text
    corrections = page[page.index('id="labels"') :]
    assert re.search(
        r"Sentiment</strong> neutral\s+<span class=\"meta\">by rory <time>", corrections
    )
    assert "Harken said negative" in corrections
    assert "a status page" in corrections
    assert 'action="/mentions' not in corrections  # a viewer sees labels, not the forms
    (label,) = inbox.storage.labels(inbox.outage_id)
    assert (label.kind, label.value, label.harken_value, label.who) == (
        "sentiment",
        "neutral",
        "negative",
        "rory",
    )
    assert datetime.now(UTC) - label.at < timedelta(minutes=1)


def test_a_newer_correction_supersedes_and_the_older_stays_as_history(inbox: Inbox) -> None:
    assert correct(inbox, "rory", inbox.outage_id, "severity", "high") == 303
    assert correct(inbox, "ada", inbox.outage_id, "severity", "low") == 303

    with inbox.signed_in("rory") as client:
        page = client.get(f"/mentions/{inbox.outage_id}").text
    current = page[page.index('class="current"') : page.index("Earlier corrections")]
    assert "Severity</strong> low" in current
    assert "by ada" in current
    assert "high by rory" in page[page.index("Earlier corrections") :]
    assert [label.value for label in inbox.storage.labels(inbox.outage_id)] == ["high", "low"]


def test_not_ours_shows_in_the_inbox_and_filters_it(inbox: Inbox) -> None:
    assert correct(inbox, "ada", inbox.hostile_id, "relevance", "not_ours") == 303

    with inbox.signed_in("vic") as client:
        everything = client.get("/").text
        only = client.get("/", params={"state": "not_ours"}).text
    assert everything.count("not ours</span>") == 1
    row = everything[everything.index(f'href="/mentions/{inbox.hostile_id}"') :]
    assert row.index("not ours</span>") < row.index("</li>")
    assert f'href="/mentions/{inbox.hostile_id}"' in only
    assert "Acme outage" not in only


def test_a_viewer_may_not_correct(inbox: Inbox) -> None:
    assert correct(inbox, "vic", inbox.outage_id, "relevance", "not_ours") == 403
    assert inbox.storage.labels(inbox.outage_id) == []


def test_a_correction_without_its_csrf_token_is_refused(inbox: Inbox) -> None:
    with inbox.signed_in("rory") as client:
        data = {"kind": "sentiment", "value": "positive"}
        answer = client.post(f"/mentions/{inbox.outage_id}/labels", data=data)
        assert answer.status_code == 403
        forged = client.post(
            f"/mentions/{inbox.outage_id}/labels", data={**data, "csrf": "not-the-token"}
        )
        assert forged.status_code == 403
    assert inbox.storage.labels(inbox.outage_id) == []


def test_an_unknown_correction_or_mention_is_refused(inbox: Inbox) -> None:
    assert correct(inbox, "rory", inbox.outage_id, "sentiment", "furious") == 400
    assert correct(inbox, "rory", inbox.outage_id, "colour", "blue") == 400
    with inbox.signed_in("rory") as client:
        token = csrf_of(client.get("/").text)
        data = {"csrf": token, "kind": "sentiment", "value": "positive"}
        assert client.post("/mentions/999999/labels", data=data).status_code == 404


def test_the_quality_page_counts_agreement_per_week(inbox: Inbox) -> None:
    # Three sentiment labels this week, two agreeing with what Harken said.
    assert correct(inbox, "rory", inbox.outage_id, "sentiment", "negative") == 303  # agrees
    found = inbox.storage.find_mentions(MentionQuery(), 100)
    praise = next(m.id for m in found if m.item_id == "praise")
    assert correct(inbox, "rory", praise, "sentiment", "positive") == 303  # agrees
    assert correct(inbox, "ada", inbox.hostile_id, "sentiment", "negative") == 303  # disagrees
    # A label from ten weeks ago, in a week of its own.
    past = datetime.now(UTC) - timedelta(weeks=10)
    inbox.storage.add_label(inbox.outage_id, "relevance", "not_ours", who="ada", now=past)

    with inbox.signed_in("vic") as client:
        page = client.get("/quality").text
    year, week, _ = datetime.now(UTC).isocalendar()
    this_week = re.search(
        rf"<td>{year}-W{week:02d}</td><td>Sentiment</td><td>3</td><td>67% <small>\(2 of 3\)",
        page,
    )
    assert this_week is not None, page
    year, week, _ = past.isocalendar()
    assert f"<td>{year}-W{week:02d}</td><td>About us?</td><td>1</td><td>0%" in page


def test_weeks_are_iso_weeks_in_the_organisations_zone() -> None:
    def label(at: datetime, value: str) -> Label:
        return Label(1, 1, "sentiment", value, "negative", "ann", at)

    # Sunday 2026-03-01 23:30 UTC is already Monday, week 10, in Berlin.
    sunday_night = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    rows = weekly_agreement([label(sunday_night, "negative")], "Europe/Berlin")
    assert [(row.week, row.labels, row.percent) for row in rows] == [("2026-W10", 1, 100)]
    rows = weekly_agreement([label(sunday_night, "neutral")], "UTC")
    assert [(row.week, row.labels, row.percent) for row in rows] == [("2026-W09", 1, 0)]
