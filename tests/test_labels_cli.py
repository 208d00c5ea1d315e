"""`harken labels export`: every correction with its mention, in JSON Lines or CSV, hostile
text surviving the round trip exactly; the fields are the contract the model work trains on."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli.labels import export_fields
from monitor.storage import MentionQuery, Storage
from tests.test_mention_search import mention_verdict, store
from tests.test_retention import write_config
from tests.test_web_inbox import harken

HOSTILE = 'Acme "quoted", comma\nsecond line\r\nthird\t<script>alert(1)</script> =1+1 🙂 \u202e'
FIELDS = [
    "mention_id",
    "text",
    "title",
    "source",
    "author",
    "kind",
    "value",
    "harken_value",
    "by",
    "at",
    "note",
    "current",
]


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """A hostile mention corrected twice (the second supersedes), and an older correction."""
    write_config(tmp_path, "")
    storage = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    now = datetime.now(UTC)
    store(
        storage,
        now - timedelta(days=60),
        mention_verdict("old", "Acme was slow", label="negative"),
    )
    store(
        storage,
        now - timedelta(hours=1),
        mention_verdict("x", HOSTILE, title='T, "t"\n', author='Zoë, "Z"', label="negative"),
    )
    ids = {m.item_id: m.id for m in storage.find_mentions(MentionQuery(), 10)}
    storage.add_label(ids["old"], "relevance", "not_ours", who="ann", now=now - timedelta(days=45))
    storage.add_label(ids["x"], "sentiment", "neutral", who="bo", now=now, note=HOSTILE)
    storage.add_label(ids["x"], "sentiment", "negative", who="ann", now=now)
    storage.close()
    return tmp_path


def test_the_fields_are_the_documented_contract() -> None:
    assert list(export_fields()) == FIELDS
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for field in FIELDS:
        assert f"| `{field}` |" in readme


def test_jsonl_round_trips_hostile_text_and_says_which_label_is_current(labelled: Path) -> None:
    done = harken(labelled, "labels", "export")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [list(record) for record in records] == [FIELDS] * 3
    old, first, second = records
    assert (old["kind"], old["value"], old["harken_value"], old["by"]) == (
        "relevance",
        "not_ours",
        "ours",
        "ann",
    )
    assert first["text"] == HOSTILE
    assert first["note"] == HOSTILE
    assert (first["title"], first["author"]) == ('T, "t"\n', 'Zoë, "Z"')
    assert (first["value"], first["harken_value"], first["current"]) == (
        "neutral",
        "negative",
        False,
    )
    assert (second["value"], second["note"], second["current"]) == ("negative", None, True)
    assert datetime.fromisoformat(second["at"]).utcoffset() == timedelta(0)


@pytest.mark.slow
def test_csv_to_a_file_round_trips_and_since_narrows(labelled: Path) -> None:
    out = labelled / "labels.csv"
    done = harken(
        labelled, "labels", "export", "--format", "csv", "--output", str(out), "--since", "30d"
    )
    assert done.returncode == 0, done.stderr
    assert "exported 2 labels" in done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_bytes().decode("utf-8"), newline="")))
    assert [list(row) for row in rows] == [FIELDS] * 2
    first, second = rows
    assert first["text"] == first["note"] == HOSTILE
    assert (first["current"], second["current"], second["note"]) == ("false", "true", "")
    assert {row["source"] for row in rows} == {"news"}


def test_a_wrong_format_is_refused(labelled: Path) -> None:
    done = harken(labelled, "labels", "export", "--format", "xml")
    assert done.returncode == 2
    assert "--format" in done.stderr
