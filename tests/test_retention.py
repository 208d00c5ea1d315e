"""Retention: old mentions go with their alerts and history, recent ones stay."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

from monitor.config.load import load_config
from monitor.daemon.retention import purge_old_mentions
from monitor.daemon.scheduler import build_scheduler
from monitor.daemon.wiring import open_app
from monitor.errors import ConfigError
from monitor.mention import Severity
from monitor.storage import MentionQuery, Storage
from tests.harness import REPO, Clock
from tests.test_mention_search import mention_verdict, store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=500)


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage(database_url)
    yield opened
    opened.close()


def rows_in(database_url: str, table: str) -> int:
    engine = sqlalchemy.create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
    finally:
        engine.dispose()


def arrange(storage: Storage) -> None:
    """An old urgent mention acknowledged and escalated, an old quiet one, a recent urgent one."""
    store(
        storage,
        OLD,
        mention_verdict("old-urgent", "Acme is down", severity=Severity.URGENT),
        mention_verdict("old-low", "Acme logo spotted", severity=Severity.LOW),
    )
    store(
        storage,
        NOW - timedelta(days=1),
        mention_verdict("new", "Acme down", severity=Severity.URGENT),
    )
    (old_alert,) = storage.mention_alert_ids(
        storage.find_mentions(MentionQuery(text="down is"), 1)[0].id
    )
    storage.escalate_alert(old_alert, 0, [(1, ["leads"])], OLD + timedelta(minutes=15))
    storage.acknowledge_alert(old_alert, OLD + timedelta(minutes=20), who="ann", via="cli")
    storage.enqueue_source_alert("news", OLD, "failing: timeout", ["admins"])


def test_purge_removes_old_mentions_with_their_alerts_and_keeps_recent_ones(
    storage: Storage, database_url: str
) -> None:
    arrange(storage)
    assert (
        rows_in(database_url, "alert_events") == 4
    )  # raised, escalated, acked; the new one raised

    purged = storage.purge_mentions(NOW - timedelta(days=400))

    assert (purged.mentions, purged.alerts) == (2, 1)
    assert [m.item_id for m in storage.find_mentions(MentionQuery(), 10)] == ["new"]
    assert [m.item_id for m in storage.find_mentions(MentionQuery(text="down"), 10)] == ["new"]
    (recent,) = storage.alert_statuses(include_resolved=True)
    assert storage.alert_events(recent.id)[0].action == "raised"
    # The old alert, its escalation and its history went; the recent one and the source alert stay.
    assert rows_in(database_url, "alert_events") == 1
    assert rows_in(database_url, "alerts") == 2
    assert rows_in(database_url, "verdicts") == rows_in(database_url, "sightings") == 1


def test_purge_removes_labels_with_their_mention(storage: Storage, database_url: str) -> None:
    store(storage, OLD, mention_verdict("old", "Acme was slow"))
    store(storage, NOW, mention_verdict("new", "Acme today"))
    ids = {m.item_id: m.id for m in storage.find_mentions(MentionQuery(), 10)}
    for item_id in ("old", "new"):
        storage.add_label(ids[item_id], "sentiment", "negative", who="ann", now=NOW)
    storage.add_label(ids["old"], "relevance", "not_ours", who="bo", now=NOW)

    storage.purge_mentions(NOW - timedelta(days=400))

    assert storage.labels(ids["old"]) == []
    assert [label.value for label in storage.labels(ids["new"])] == ["negative"]
    assert rows_in(database_url, "labels") == 1


def test_purge_works_through_many_small_batches(storage: Storage) -> None:
    store(storage, OLD, *(mention_verdict(f"old-{n}", f"Acme {n}") for n in range(7)))
    store(storage, NOW, mention_verdict("new", "Acme today"))
    purged = storage.purge_mentions(NOW - timedelta(days=1), batch=2)
    assert purged.mentions == 7
    assert storage.count_mentions(MentionQuery()) == 1


def test_purge_by_severity_spares_or_picks(storage: Storage) -> None:
    arrange(storage)
    cutoff = NOW - timedelta(days=400)
    assert storage.purge_mentions(cutoff, sparing=("urgent",)).mentions == 1
    assert {m.item_id for m in storage.find_mentions(MentionQuery(), 10)} == {"old-urgent", "new"}
    assert storage.purge_mentions(cutoff, only=("urgent",)).mentions == 1
    assert [m.item_id for m in storage.find_mentions(MentionQuery(), 10)] == ["new"]


def write_config(folder: Path, storage: str) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f"""
[[brands]]
name = "Acme"
terms = ["Acme"]

[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]

[storage]
url = "sqlite:///harken.db"
{storage}

[rules]
path = "{REPO / "rules"}"
lexicon = "{REPO / "rules" / "sentiment" / "lexicon.toml"}"

[templates]
path = "{REPO / "templates"}"
""",
        encoding="utf-8",
    )
    return config


def test_the_daemon_purges_what_keep_no_longer_keeps_and_logs_the_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        write_config(tmp_path, 'keep = "400d"\nkeep_by_severity = { low = "30d" }')
    )
    assert config.settings.storage.keep == timedelta(days=400)
    clock = Clock(NOW)
    app = open_app(config, now=clock)
    try:
        arrange(app.storage)
        store(
            app.storage,
            NOW - timedelta(days=60),
            mention_verdict("low-60d", "Acme", severity=Severity.LOW),
        )
        store(app.storage, NOW - timedelta(days=60), mention_verdict("normal-60d", "Acme!"))
        with caplog.at_level(logging.INFO, logger="harken.retention"):
            assert purge_old_mentions(app) == 3
        remaining = {m.item_id for m in app.storage.find_mentions(MentionQuery(), 10)}
        assert remaining == {"new", "normal-60d"}
        jobs = {job.id: job for job in build_scheduler(app).get_jobs()}
    finally:
        app.close()
    assert [record.getMessage() for record in caplog.records] == [
        "retention: purged 2 mentions older than 2026-01-30 12:00 UTC (severity low), with 0 alerts",
        "retention: purged 1 mention older than 2025-01-25 12:00 UTC, with 1 alert",
    ]
    assert "retention" in jobs


def test_without_keep_nothing_is_ever_purged(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ""))
    assert config.settings.storage.keep is None
    app = open_app(config, now=Clock(NOW))
    try:
        arrange(app.storage)
        assert purge_old_mentions(app) == 0
        assert app.storage.count_mentions(MentionQuery()) == 3
        assert "retention" not in {job.id for job in build_scheduler(app).get_jobs()}
    finally:
        app.close()


def test_a_mistyped_keep_is_a_config_error_naming_the_forms(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"storage\.keep.*400 days.*duration"):
        load_config(write_config(tmp_path, 'keep = "400 days"'))
