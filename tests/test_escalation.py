"""Escalation and the on-call rota: an urgent alert nobody acknowledges reaches the next level at
the right minute; acknowledging it stops that. Driven with a controllable clock, real SMTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts import due_level
from monitor.alerts.rota import Shift, on_call
from monitor.config.hours import parse_days, parse_hours
from monitor.config.load import load_config
from monitor.config.settings import EscalationLevel
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.escalate import escalate_alerts
from monitor.daemon.poll import poll_all
from monitor.daemon.scheduler import build_scheduler
from monitor.daemon.wiring import App, open_app
from monitor.errors import ConfigError
from tests.harness import Clock, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

FRIDAY_9AM = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 09:00 in London too (GMT in November)
OUTAGE = ("down-1", "Acme is down", "Acme has been down for an hour.")
RULES = """
[[rule]]
name = "outage"
description = "Someone says Acme is down"
any_words = ["down"]
severity = "urgent"

[[rule]]
name = "lawsuit"
description = "Someone threatens to sue"
any_words = ["sue"]
severity = "urgent"
notify = ["legal"]

[[rule]]
name = "refund"
description = "Someone wants their money back: legal should know, nobody need be woken"
any_words = ["refund"]
severity = "high"
notify = ["legal"]
"""
GROUPS = """\
leads = ["lead@example.com"]
execs = ["ceo@example.com", "cto@example.com"]
legal = ["law@example.com"]
weekend = ["weekend@example.com"]
"""
LEVELS = """
[[oncall.levels]]
after = "15m"
notify = ["leads"]

[[oncall.levels]]
after = "45m"
notify = ["execs"]
"""
ROTA = """
[oncall]
timezone = "Europe/London"

[[oncall.shifts]]
who = ["alice@example.com"]
days = "mon-fri"
hours = "08:00-18:00"

[[oncall.shifts]]
who = ["bob@example.com"]
days = "mon-fri"
hours = "18:00-08:00"

[[oncall.shifts]]
who = ["weekend"]
days = "sat-sun"
hours = "08:00-20:00"
"""


Start = Callable[..., App]


def write_config(harness: Harness, feed: str, smtp_port: int, extra: str) -> None:
    rules = harness.folder / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "urgent.toml").write_text(RULES, encoding="utf-8")
    harness.write_config({"news": feed}, smtp_port, rules=rules, extra=extra)
    text = harness.config.read_text(encoding="utf-8")
    harness.config.write_text(text.replace("[recipients]\n", "[recipients]\n" + GROUPS))


@pytest.fixture
def clock() -> Clock:
    return Clock(FRIDAY_9AM)


@pytest.fixture
def start(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, clock: Clock
) -> Iterator[Start]:
    """Call with the config's extra tables to get a Harken on the test's clock."""
    http_server.routes["/feed.xml"] = Reply(rss_feed(OUTAGE))
    started: list[App] = []

    def _start(extra: str = LEVELS) -> App:
        harness = Harness(tmp_path)
        write_config(harness, http_server.url("/feed.xml"), smtp_server.port, extra)
        harken = open_app(load_config(harness.config), now=clock)
        started.append(harken)
        return harken

    yield _start
    for harken in started:
        harken.close()


def recipients(smtp_server: SmtpServer) -> list[str]:
    return [str(message["X-Envelope-To"]) for message in smtp_server.inbox]


def test_an_unacknowledged_urgent_alert_reaches_each_level_at_its_minute(
    start: Start, smtp_server: SmtpServer, clock: Clock
) -> None:
    harken = start()
    poll_all(harken)
    assert recipients(smtp_server) == ["oncall@example.com"]

    clock.at(timedelta(minutes=14, seconds=59))
    assert escalate_alerts(harken) == 0
    assert len(smtp_server.inbox) == 1

    clock.at(timedelta(minutes=15))
    assert escalate_alerts(harken) == 1
    assert recipients(smtp_server) == ["oncall@example.com", "lead@example.com"]
    escalation = smtp_server.inbox[-1]
    assert str(escalation["Subject"]).strip() == (
        "[Harken] ESCALATED to level 1: URGENT: Acme is down (negative mention of Acme on news)"
    )
    assert escalation["Message-ID"] == "<harken-alert-1-level-1@harken>"
    assert escalation["In-Reply-To"] == "<harken-alert-1@harken>"
    body = escalation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "ESCALATED to level 1 (leads): nobody has acknowledged this alert within 15m." in body
    # the config lives in a temporary folder, so the command names it
    assert f"harken --config {harken.config.path} alerts ack 1 --by NAME" in body

    clock.at(timedelta(minutes=16))
    assert escalate_alerts(harken) == 0  # level 1 is told once

    clock.at(timedelta(minutes=45))
    assert escalate_alerts(harken) == 1
    assert recipients(smtp_server)[-1] == "ceo@example.com, cto@example.com"
    assert smtp_server.inbox[-1]["Message-ID"] == "<harken-alert-1-level-2@harken>"

    clock.at(timedelta(hours=5))
    assert escalate_alerts(harken) == 0  # no level after the last
    status = harken.storage.alert_status(1)
    assert status is not None
    assert (status.state, status.level) == ("open", 2)
    assert [event.action for event in harken.storage.alert_events(1)] == [
        "raised",
        "notified",
        "escalated",
        "notified",
        "escalated",
        "notified",
    ]


def test_acknowledging_stops_the_escalation(
    start: Start, smtp_server: SmtpServer, clock: Clock
) -> None:
    harken = start()
    poll_all(harken)

    clock.at(timedelta(minutes=14))
    change = harken.storage.acknowledge_alert(1, clock(), who="alice", via="cli")
    assert change is not None
    assert change.changed

    for minutes in (15, 16, 45, 600):
        clock.at(timedelta(minutes=minutes))
        assert escalate_alerts(harken) == 0
    assert recipients(smtp_server) == ["oncall@example.com"]
    status = harken.storage.alert_status(1)
    assert status is not None
    assert (status.state, status.level, status.acknowledged_by) == ("acknowledged", 0, "alice")
    assert status.time_to_first_response == timedelta(minutes=14)


def test_an_escalation_waiting_for_a_retry_is_dropped_once_someone_acknowledges(
    start: Start, smtp_server: SmtpServer, clock: Clock
) -> None:
    harken = start()
    poll_all(harken)
    smtp_server.refusing = True
    clock.at(timedelta(minutes=15))
    escalate_alerts(harken)  # queued, but the server refuses it for now

    clock.at(timedelta(minutes=16))
    harken.storage.acknowledge_alert(1, clock(), who="alice", via="cli")
    smtp_server.refusing = False
    clock.at(timedelta(minutes=20))
    report = deliver_alerts(harken)

    assert (report.sent, report.cancelled) == (0, 1)
    assert recipients(smtp_server) == ["oncall@example.com"]
    assert harken.storage.alert_counts()["pending"] == 0


def test_a_late_job_tells_every_level_it_missed_each_once(
    start: Start, smtp_server: SmtpServer, clock: Clock
) -> None:
    harken = start()
    poll_all(harken)

    clock.at(timedelta(minutes=50))
    assert escalate_alerts(harken) == 1
    clock.at(timedelta(minutes=51))
    assert escalate_alerts(harken) == 0

    assert [m["Message-ID"] for m in smtp_server.inbox] == [
        "<harken-alert-1@harken>",
        "<harken-alert-1-level-1@harken>",
        "<harken-alert-1-level-2@harken>",
    ]


def test_only_urgent_alerts_escalate(
    start: Start, smtp_server: SmtpServer, http_server: HttpServer, clock: Clock
) -> None:
    harken = start()
    poll_one(harken, http_server, ("refund-1", "Acme", "I want a refund from Acme."))
    assert recipients(smtp_server) == ["law@example.com"]

    clock.at(timedelta(hours=2))
    assert escalate_alerts(harken) == 0
    assert recipients(smtp_server) == ["law@example.com"]


def test_without_levels_nothing_escalates_and_no_job_is_scheduled(
    start: Start, smtp_server: SmtpServer, clock: Clock
) -> None:
    harken = start("")
    poll_all(harken)
    clock.at(timedelta(days=1))

    assert escalate_alerts(harken) == 0
    assert recipients(smtp_server) == ["oncall@example.com"]
    assert build_scheduler(harken).get_job("escalate") is None


def test_the_escalation_job_runs_every_minute(start: Start) -> None:
    job = build_scheduler(start()).get_job("escalate")

    assert job is not None
    assert job.trigger.interval == timedelta(minutes=1)


# The rota ------------------------------------------------------------------------------------


def poll_one(harken: App, http_server: HttpServer, item: tuple[str, str, str]) -> None:
    http_server.routes["/feed.xml"] = Reply(rss_feed(item))
    poll_all(harken)


def test_the_first_email_goes_to_whoever_is_on_shift(
    start: Start, smtp_server: SmtpServer, http_server: HttpServer, clock: Clock
) -> None:
    harken = start(ROTA + LEVELS)
    cases = [
        (timedelta(0), "alice@example.com"),  # Friday 09:00
        (timedelta(hours=11), "bob@example.com"),  # Friday 20:00
        (timedelta(hours=22), "bob@example.com"),  # Saturday 07:00: Friday's night shift
        (timedelta(days=1, hours=3), "weekend@example.com"),  # Saturday 12:00: a group
        (timedelta(days=1, hours=14), "oncall@example.com"),  # Saturday 23:00: no shift
    ]
    for number, (later, _) in enumerate(cases):
        clock.at(later)
        poll_one(harken, http_server, (f"down-{number}", "Acme is down", "Acme is down again."))

    assert recipients(smtp_server) == [address for _, address in cases]


def test_groups_a_rule_names_hear_of_it_beside_the_person_on_shift(
    start: Start, smtp_server: SmtpServer, http_server: HttpServer
) -> None:
    harken = start(ROTA)
    poll_one(harken, http_server, ("sue-1", "Acme", "I will sue Acme, they are awful."))

    assert recipients(smtp_server) == ["alice@example.com, law@example.com"]


def test_shifts_read_days_and_hours_as_people_write_them() -> None:
    assert parse_days("mon-fri").weekdays == {0, 1, 2, 3, 4}
    assert parse_days("sat,sun").weekdays == {5, 6}
    assert parse_days("fri-mon").weekdays == {4, 5, 6, 0}
    assert parse_days("Monday").weekdays == {0}
    office, whole_day = parse_hours("08:00-18:00"), parse_hours("00:00-24:00")
    assert (office.start, office.end) == (480, 1080)
    assert (whole_day.start, whole_day.end) == (0, 1440)
    night = Shift(("bob",), parse_days("fri"), parse_hours("22:00-06:00"))
    london = "Europe/London"
    saturday_3am = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    monday_3am = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert on_call([night], saturday_3am, london) == ["bob"]
    assert on_call([night], monday_3am, london) == []
    # In summer London is an hour ahead: 07:30 UTC is 08:30 there.
    day = Shift(("alice",), parse_days("mon-fri"), office)
    assert on_call([day], datetime(2026, 7, 1, 7, 30, tzinfo=UTC), london) == ["alice"]
    assert on_call([day], datetime(2026, 7, 1, 6, 30, tzinfo=UTC), london) == []


@pytest.mark.parametrize(
    ("days", "hours", "message"),
    [
        ("mon-fry", "08:00-18:00", 'unknown day "fry" in "mon-fry"'),
        ("", "08:00-18:00", 'names no day; write days like "mon-fri"'),
        ("mon", "8-18", '"8" in "8-18" is not a time'),
        ("mon", "08:00-08:00", 'is empty; for the whole day write "00:00-24:00"'),
        ("mon", "08:00-25:00", '"25:00" in "08:00-25:00" is not a time of day'),
    ],
)
def test_a_mistake_in_a_shift_is_named_with_its_line(
    tmp_path: Path, days: str, hours: str, message: str
) -> None:
    harness = Harness(tmp_path)
    extra = f'\n[[oncall.shifts]]\nwho = ["oncall"]\ndays = "{days}"\nhours = "{hours}"\n'
    write_config(harness, "http://127.0.0.1:9/feed.xml", 25, extra)
    line = harness.config.read_text().splitlines().index(f'days = "{days}"') + 1

    with pytest.raises(ConfigError) as caught:
        load_config(harness.config)

    [problem] = caught.value.problems
    assert message in str(problem)
    assert problem.line in (line, line + 1)


def test_levels_must_come_later_and_later(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    extra = (
        '\n[[oncall.levels]]\nafter = "30m"\nnotify = ["leads"]\n'
        '\n[[oncall.levels]]\nafter = "10m"\nnotify = ["execs"]\n'
    )
    write_config(harness, "http://127.0.0.1:9/feed.xml", 25, extra)

    with pytest.raises(ConfigError) as caught:
        load_config(harness.config)

    [problem] = caught.value.problems
    assert "oncall.levels: each level's after must be longer than the one before" in str(problem)


def test_levels_and_shifts_must_name_known_groups(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    extra = (
        '\n[[oncall.levels]]\nafter = "30m"\nnotify = ["leeds"]\n'
        '\n[[oncall.shifts]]\nwho = ["nobody", "x@example.com"]\n'
    )
    write_config(harness, "http://127.0.0.1:9/feed.xml", 25, extra)
    lines = harness.config.read_text().splitlines()
    level_line = lines.index('notify = ["leeds"]') + 1
    shift_line = lines.index('who = ["nobody", "x@example.com"]') + 1

    with pytest.raises(ConfigError) as caught:
        load_config(harness.config)

    hint = "define it under [recipients], or give an email address"
    assert [str(problem) for problem in caught.value.problems] == [
        f'{harness.config}:{level_line}:1: oncall.levels[0].notify: unknown recipient group "leeds"; {hint}',
        f'{harness.config}:{shift_line}:1: oncall.shifts[0].who: unknown recipient group "nobody"; {hint}',
    ]


def test_due_level_counts_from_when_the_alert_was_raised() -> None:
    levels = [
        EscalationLevel(after=timedelta(minutes=15), notify=["leads"]),
        EscalationLevel(after=timedelta(minutes=45), notify=["execs"]),
    ]
    raised = FRIDAY_9AM

    assert due_level(raised, levels, raised + timedelta(minutes=14)) == 0
    assert due_level(raised, levels, raised + timedelta(minutes=15)) == 1
    assert due_level(raised, levels, raised + timedelta(hours=3)) == 2


def test_alerts_from_before_the_upgrade_neither_escalate_nor_show_as_open(tmp_path: Path) -> None:
    import sqlite3

    from alembic import command
    from alembic.config import Config as AlembicConfig

    from monitor.storage import Storage, database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = database.create(database.parse_url(url))
    settings = AlembicConfig()
    settings.set_main_option("script_location", str(database.MIGRATIONS))
    with engine.begin() as connection:
        settings.attributes["connection"] = connection
        command.upgrade(settings, "0002")
    engine.dispose()
    with sqlite3.connect(tmp_path / "old.db") as connection:
        connection.executescript(
            """
            INSERT INTO mentions (id, source, item_id, url, title, text, author, lang, metrics,
                                  stored_at, thread_id, parent_id, canonical_url)
            VALUES (1, 'news', 'old', '', 'Acme is down', 'Acme is down', '', '', '{}',
                    '2026-01-01 09:00:00', '', '', '');
            INSERT INTO verdicts VALUES (1, 1, '["Acme"]', -0.8, 'negative', 'urgent', '[]',
                                         '[]', '["oncall"]', '[]');
            INSERT INTO alerts (mention_id, groups, status, attempts, created_at,
                                next_attempt_at, sent_at, kind)
            VALUES (1, '["oncall"]', 'sent', 1, '2026-01-01 09:00:00', '2026-01-01 09:00:00',
                    '2026-01-01 09:00:01', 'mention');
            """
        )

    upgraded = Storage(url)
    try:
        assert upgraded.open_urgent_alerts() == []
        assert upgraded.alert_statuses(include_resolved=True) == []
        assert upgraded.acknowledge_alert(1, FRIDAY_9AM, who="alice", via="cli") is None
        assert upgraded.alert_counts() == {"pending": 0, "sent": 1, "failed": 0}
    finally:
        upgraded.close()
