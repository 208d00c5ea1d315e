"""Storm control: one message for many alerts about one story; quiet hours hold non-urgent ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import DeliveryReport
from monitor.config.settings import Config
from monitor.mention import Severity, Verdict
from monitor.storage import Storage
from tests.servers import SmtpServer
from tests.test_alerts import NOW, deliver, make_config, queue, urgent


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    yield store
    store.close()


def same_story(item_id: str, title: str = "Acme is down again") -> Verdict:
    verdict = urgent(item_id, title=title, author=f"user{item_id}")
    mention = dataclasses.replace(verdict.mention, thread_id="story-42")  # replies in one thread
    return dataclasses.replace(verdict, mention=mention)


def not_urgent(item_id: str) -> Verdict:
    return dataclasses.replace(urgent(item_id, notify=("oncall",)), severity=Severity.HIGH)


def test_many_alerts_about_one_story_go_as_one_message_with_a_count(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port, group_window="10m")
    queue(storage, same_story("1"), same_story("2"), same_story("3"), urgent("4"))

    report = deliver(storage, config)

    assert report == DeliveryReport(sent=4)
    grouped, alone = smtp_server.inbox
    assert grouped["Subject"] == (
        "[Harken] URGENT: Acme is down again (negative mention of Acme on hn_acme), "
        "and 2 more on this story"
    )
    text, html = grouped.iter_parts()
    plain = text.get_content()
    assert "3 alerts about this story" in plain
    assert all(f"user{n}" in plain for n in (1, 2, 3))
    assert "3 alerts about this story" in html.get_content()
    assert alone["Subject"] == (
        "[Harken] URGENT: Acme is down (negative mention of Acme on hn_acme)"
    )
    assert storage.alert_counts() == {"pending": 0, "sent": 4, "failed": 0}


def test_without_a_group_window_each_alert_is_its_own_message(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, same_story("1"), same_story("2"))

    assert deliver(storage, config) == DeliveryReport(sent=2)
    assert len(smtp_server.inbox) == 2


def test_a_failed_grouped_message_retries_every_alert_in_it(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port, group_window="10m")
    queue(storage, same_story("1"), same_story("2"))
    smtp_server.refusing = True

    assert deliver(storage, config) == DeliveryReport(retrying=2)

    smtp_server.refusing = False
    assert deliver(storage, config, NOW + timedelta(minutes=2)) == DeliveryReport(sent=2)
    assert len(smtp_server.inbox) == 1


def quiet_config(tmp_path: Path, port: int) -> Config:
    return make_config(tmp_path, port, quiet_hours="22:00-07:00")  # Europe/London


def test_quiet_hours_hold_non_urgent_alerts_until_they_end(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = quiet_config(tmp_path, smtp_server.port)
    queue(storage, not_urgent("1"), urgent("2"))
    night = datetime(2024, 5, 3, 4, 0, tzinfo=NOW.tzinfo)  # 05:00 in London

    assert deliver(storage, config, night) == DeliveryReport(sent=1, held=1)
    [woken] = smtp_server.inbox
    assert woken["Subject"].startswith("[Harken] URGENT:")

    morning = datetime(2024, 5, 3, 6, 0, tzinfo=NOW.tzinfo)  # 07:00 in London
    assert deliver(storage, config, morning) == DeliveryReport(sent=1)
    assert smtp_server.inbox[1]["Subject"].startswith("[Harken] HIGH:")


def test_quiet_hours_must_be_a_span_of_hours(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='"22" in "22-7" is not a time'):
        make_config(tmp_path, 25, quiet_hours="22-7")
