"""``harken mentions`` as people and scripts run it: list, search, show, export, purge."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import FoundMention, MentionQuery, Storage
from tests.harness import Harness
from tests.test_mention_search import mention_verdict, store
from tests.test_retention import write_config

# Each test runs ``harken mentions`` in subprocesses, several times.
pytestmark = pytest.mark.slow

NOW = datetime.now(UTC)  # the commands read the real clock: --since 7d is relative to it
HOSTILE_TEXT = (
    'Acme, "quoted", commas,\nnew lines\r\nand ünïcødé 🎉 \x1b[31mred\x1b[0m [bold]markup[/bold]'
)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    write_config(tmp_path, "")
    storage = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    try:
        store(
            storage,
            NOW - timedelta(days=30),
            mention_verdict("old", "Acme was down last month", author="Oldtimer"),
        )
        store(
            storage,
            NOW - timedelta(hours=2),
            mention_verdict(
                "outage",
                "Acme is down again and support will not answer",
                title="Acme outage",
                author="Dana",
                severity=Severity.URGENT,
                label="negative",
                tags=("outage",),
                rules=("outage", "angry-complaint"),
            ),
            mention_verdict("calm", "Acme shipped version two", label="positive"),
        )
        hostile = Verdict(
            mention=Mention(
                source="forum",
                id='id,with "quotes"',
                text=HOSTILE_TEXT,
                title='Title, [bold]markup[/bold] "quotes"\x1b[2J\nand a line',
                author='Zoë, "the" critic',
                url="https://forum.example/t?a=1,b=2",
                lang="fr",
                published=NOW - timedelta(hours=3),
                metrics={"followers": 1200.0, "likes": 3.0},
                thread_id="t-1",
                parent_id="p-1",
            ),
            matched=True,
            brands=("Acme", 'Brand "X", Inc.'),
            sentiment=Sentiment(-0.75, "negative", sentence='Acme, "quoted"'),
            severity=Severity.HIGH,
            rules=("rule, one",),
            tags=("tag;with,separators", "ünï"),
            notify=("comms",),
            reasons=('names Acme ("Acme")', "line\nbreak"),
            reply="Sorry, we're on it",
        )
        storage.save_poll(
            "forum",
            Poll(mentions=(hostile.mention,), cursor={}, fetched=1),
            [hostile],
            NOW - timedelta(hours=1),
        )
    finally:
        storage.close()
    return Harness(tmp_path)


def stored(harness: Harness) -> list[FoundMention]:
    storage = Storage(f"sqlite:///{harness.database}")
    try:
        return list(storage.each_mention(MentionQuery()))
    finally:
        storage.close()


def as_json(found: FoundMention) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(found).items()
    }


def listed_ids(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()[1:] if line.strip()]


def test_list_shows_the_newest_first_and_filters_narrow_it(harness: Harness) -> None:
    everything = harness.harken("mentions", "list")
    assert everything.returncode == 0, everything.stderr
    header = everything.stdout.splitlines()[0].split()
    assert header == ["id", "stored", "severity", "sentiment", "source", "author", "state", "title"]
    # Stored at the same moment, the later stored (higher id) comes first.
    assert listed_ids(everything.stdout) == ["4", "3", "2", "1"]
    # Mention text is shown, never obeyed: no markup applied, no escape reaches the terminal.
    assert "[bold]markup[/bold]" in everything.stdout
    assert "\x1b" not in everything.stdout

    recent = harness.harken("mentions", "list", "--since", "1d")
    assert listed_ids(recent.stdout) == ["4", "3", "2"]
    urgent_open = harness.harken("mentions", "list", "--severity", "urgent", "--state", "open")
    assert listed_ids(urgent_open.stdout) == ["2"]
    assert "Acme outage" in urgent_open.stdout
    by_author = harness.harken("mentions", "list", "--author", "dana", "--tag", "OUTAGE")
    assert listed_ids(by_author.stdout) == ["2"]
    limited = harness.harken("mentions", "list", "--limit", "1")
    assert listed_ids(limited.stdout) == ["4"]
    assert "--limit shows more" in limited.stderr
    nothing = harness.harken("mentions", "list", "--source", "nowhere")
    assert (nothing.returncode, nothing.stdout, nothing.stderr) == (0, "", "no mentions match\n")


def test_search_finds_by_word_and_phrase_and_explains_bad_input(harness: Harness) -> None:
    word = harness.harken("mentions", "search", "down")
    assert sorted(listed_ids(word.stdout)) == ["1", "2"]
    phrase = harness.harken("mentions", "search", '"down again"', "--json")
    assert [json.loads(line)["item_id"] for line in phrase.stdout.splitlines()] == ["outage"]

    hostile = harness.harken("mentions", "search", '"AND OR NEAR(')
    assert hostile.returncode == 1
    assert "the quote at column 1 is never closed" in hostile.stderr
    assert "Traceback" not in hostile.stderr

    operators = harness.harken("mentions", "search", "AND OR NEAR(")
    assert (operators.returncode, operators.stderr) == (0, "no mentions match\n")


def test_mistyped_filters_say_what_is_accepted(harness: Harness) -> None:
    since = harness.harken("mentions", "list", "--since", "last week")
    assert since.returncode == 2
    assert '--since: "last week" is neither a duration ("7d", "12h") nor a date' in since.stderr
    state = harness.harken("mentions", "list", "--state", "closed")
    assert state.returncode == 2
    assert (
        "--state: 'closed' is not one of open, acked, acknowledged, resolved, none" in state.stderr
    )


def test_list_json_is_one_mention_per_line_with_the_export_fields(harness: Harness) -> None:
    listed = harness.harken("mentions", "list", "--json")
    lines = [json.loads(line) for line in listed.stdout.splitlines()]
    by_id = {found.id: as_json(found) for found in stored(harness)}
    assert [line["id"] for line in lines] == [4, *[line["id"] for line in lines[1:]]]
    assert all(line == by_id[line["id"]] for line in lines)


def test_show_tells_everything_about_one_mention(harness: Harness) -> None:
    storage = Storage(f"sqlite:///{harness.database}")
    try:
        (alert_id,) = storage.mention_alert_ids(2)
        storage.acknowledge_alert(alert_id, NOW, who="ann", via="cli")
    finally:
        storage.close()

    shown = harness.harken("mentions", "show", "2")

    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "Acme is down again and support will not answer" in out
    assert "severity     urgent" in out
    assert "rules fired  outage, angry-complaint" in out
    assert "tags         outage" in out
    assert "acknowledged by ann (cli)" in out
    assert "raised" in out
    missing = harness.harken("mentions", "show", "99")
    assert missing.returncode == 1
    assert "no mention 99" in missing.stderr


def test_export_jsonl_round_trips_every_field_of_hostile_text(harness: Harness) -> None:
    exported = harness.harken("mentions", "export", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [as_json(m) for m in stored(harness)]
    hostile = json.loads(lines[-1])
    assert hostile["text"] == HOSTILE_TEXT
    assert hostile["published"] == (NOW - timedelta(hours=3)).isoformat()
    assert hostile["stored_at"] == (NOW - timedelta(hours=1)).isoformat()
    assert hostile["metrics"] == {"followers": 1200.0, "likes": 3.0}
    assert hostile["brands"] == ["Acme", 'Brand "X", Inc.']
    assert hostile["reasons"] == ['names Acme ("Acme")', "line\nbreak"]
    assert "exporting" not in exported.stdout + exported.stderr  # no bar inside the data


def test_export_csv_to_a_file_round_trips_and_shows_progress(harness: Harness) -> None:
    target = harness.folder / "mentions.csv"
    filters = ("--severity", "high", "--severity", "urgent")
    exported = harness.harken(
        "mentions", "export", "--format", "csv", "--output", str(target), *filters
    )
    assert exported.returncode == 0, exported.stderr
    assert "exporting" in exported.stderr
    assert "2/2" in exported.stderr
    assert "exported 2 mentions to" in exported.stderr

    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    expected = [as_json(m) for m in stored(harness) if m.severity in ("high", "urgent")]
    assert [read_back(row) for row in rows] == expected
    assert rows[-1]["text"] == HOSTILE_TEXT


def read_back(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the JSON export has it: JSON cells parsed, numbers as numbers."""
    value: dict[str, Any] = dict(row)
    value["id"] = int(row["id"])
    value["compound"] = float(row["compound"])
    value["published"] = row["published"] or None
    for name in ("metrics", "brands", "rules", "tags", "notify", "reasons"):
        value[name] = json.loads(row[name])
    return value


def test_purge_asks_refuses_without_a_terminal_and_keeps_recent_mentions(
    harness: Harness,
) -> None:
    refused = harness.harken("mentions", "purge", "--before", "7d", stdin="y\n")
    assert refused.returncode == 2
    assert "add --yes" in refused.stderr
    assert len(stored(harness)) == 4

    purged = harness.harken("mentions", "purge", "--before", "7d", "--yes")

    assert purged.returncode == 0, purged.stderr
    assert purged.stdout.startswith("purged 1 mention stored before ")
    assert sorted(m.item_id for m in stored(harness)) == ["calm", 'id,with "quotes"', "outage"]
    searched = harness.harken("mentions", "search", "month")
    assert searched.stderr == "no mentions match\n"


def test_the_csv_columns_are_the_records_fields() -> None:
    from monitor.cli.mention_views import FIELDS

    assert tuple(asdict(sample()).keys()) == FIELDS
    header = io.StringIO()
    csv.writer(header).writerow(FIELDS)
    assert header.getvalue().startswith("id,stored_at,published,source,item_id,url,")


def sample() -> FoundMention:
    return FoundMention(
        *(0, NOW, None, "s", "i", "u", "c", "t", "x", "a", "l", "th", "p"),
        metrics={},
        brands=[],
        severity="low",
        sentiment="neutral",
        compound=0.0,
        sentence="",
        rules=[],
        tags=[],
        notify=[],
        reasons=[],
        reply="",
        state="none",
    )
