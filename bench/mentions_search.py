"""How fast ``harken mentions`` finds, lists and exports among many stored mentions (SQLite).

Run from the repo root:

    .venv/bin/python bench/mentions_search.py [--mentions 1000000] [--repeats 3] [--database F]

It builds a SQLite database of --mentions synthetic mentions (400 days of them, with verdicts,
and an open alert on each urgent one) through Harken's own migrations, so the FTS5 index and its
triggers are the real ones, then times, through Storage as the commands call it:
  search      the newest 50 holding a rare word, a common word, a phrase; and counting all
              hits of the rare word. Baseline: the same through LIKE '%word%' on title, text
              and author, which is what a database without the index has to do.
  list        the newest 50 with filters (severity, source, period, state). Baseline: the
              newest 50 unfiltered, the floor of any list.
  export      every mention of the last 30 days (about 1 in 13) as JSON Lines and as CSV, in
              rows per second. Baseline: the same SELECT's rows from a bare sqlite3 cursor.
  purge       the oldest tenth, in batches, with their verdicts, alerts and index rows.
Figures are medians over --repeats; ratios compare figures taken in this same run. Nothing is
asserted: the figures are printed for a person to read.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.cli.mention_views import FIELDS, csv_row, json_line
from monitor.storage import MentionQuery, Storage

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 400
BATCH = 20_000
RARE, COMMON = "zeppelin", "support"
_SOURCES = ("x_acme", "reddit_acme", "hn_acme", "mastodon_acme", "google_news_acme", "bluesky")
_SEVERITIES = (("urgent", 1), ("high", 4), ("normal", 45), ("low", 30), ("ignore", 20))
_LABELS = ("negative", "neutral", "positive")
_TAGS = ('["outage"]', '["complaint"]', '["praise"]', "[]", "[]", "[]")


def build(path: Path, count: int, seed: int = 7) -> float:
    """Create the database at ``path`` with ``count`` mentions; the seconds it took."""
    started = time.perf_counter()
    Storage(f"sqlite:///{path}").close()  # the real schema: migrations, FTS5 table, triggers
    rng = random.Random(seed)
    # A Zipf-like vocabulary: a few words everywhere, most words rare, as in real posts.
    vocabulary = [f"w{n}" for n in range(5000)] + [COMMON, "acme", "down", "refund", "again"]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    weights[-5:] = [40.0, 60.0, 8.0, 4.0, 6.0]
    cumulative = list(itertools.accumulate(weights))  # computed once: choices() would per call
    severities = [s for s, share in _SEVERITIES for _ in range(share)]
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")  # a benchmark's own scratch file
    for first in range(1, count + 1, BATCH):
        mentions, verdicts, alerts = [], [], []
        for number in range(first, min(first + BATCH, count + 1)):
            words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(8, 40))
            if rng.random() < 0.001:
                words.insert(rng.randrange(len(words)), RARE)
            if rng.random() < 0.01:
                words[-2:] = ["down", "again"]
            # Older mentions first, as a daemon stores them; ids follow stored_at.
            stored = NOW - timedelta(days=DAYS) * (1 - number / count)
            stamp = stored.strftime("%Y-%m-%d %H:%M:%S.%f")
            source = _SOURCES[number % len(_SOURCES)]
            severity = rng.choice(severities)
            mentions.append(
                (
                    number,
                    source,
                    str(number),
                    f"https://example.com/{number}",
                    " ".join(words[:6]).capitalize(),
                    "Acme " + " ".join(words),
                    f"user{rng.randrange(50_000)}",
                    stamp,
                    "en",
                    "{}",
                    stamp,
                    "",
                    "",
                    "",
                )
            )
            verdicts.append(
                (
                    number,
                    1,
                    '["Acme"]',
                    rng.uniform(-1, 1),
                    rng.choice(_LABELS),
                    severity,
                    "[]",
                    rng.choice(_TAGS),
                    "[]",
                    "[]",
                    "",
                    "",
                )
            )
            if severity == "urgent":
                alerts.append(("mention", number, '["oncall"]', "sent", 1, stamp, stamp, "open", 0))
        with connection:
            connection.executemany(
                "INSERT INTO mentions (id, source, item_id, url, title, text, author, published, "
                "lang, metrics, stored_at, thread_id, parent_id, canonical_url) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                mentions,
            )
            connection.executemany(
                "INSERT INTO verdicts (mention_id, matched, brands, compound, label, severity, "
                "rules, tags, notify, reasons, sentence, reply) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                verdicts,
            )
            connection.executemany(
                "INSERT INTO alerts (kind, mention_id, groups, status, attempts, created_at, "
                "next_attempt_at, state, level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                alerts,
            )
    connection.execute("ANALYZE")
    connection.close()
    return time.perf_counter() - started


def timed(action: Callable[[], object], repeats: int) -> tuple[float, object]:
    """The median seconds of ``repeats`` runs, and the last run's result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def like_search(path: Path, word: str, limit: int | None) -> int:
    """The baseline: the same hits through LIKE, newest first (a full scan when counting)."""
    pattern = f"%{word}%"
    connection = sqlite3.connect(path)
    try:
        where = "title LIKE ? OR text LIKE ? OR author LIKE ?"
        if limit is None:
            row = connection.execute(f"SELECT count(*) FROM mentions WHERE {where}", (pattern,) * 3)
            return int(row.fetchone()[0])
        rows = connection.execute(
            f"SELECT * FROM mentions JOIN verdicts ON verdicts.mention_id = mentions.id "
            f"WHERE {where} ORDER BY stored_at DESC, id DESC LIMIT ?",
            (*(pattern,) * 3, limit),
        )
        return len(rows.fetchall())
    finally:
        connection.close()


def line(name: str, seconds: float, found: object, baseline: float | None = None) -> None:
    ratio = f"   {baseline / seconds:8.1f}x faster than its baseline" if baseline else ""
    print(f"  {name:<44} {seconds * 1000:10.1f} ms   {found!s:>8} found{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mentions", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", type=Path, help="keep the database here (reused if present)")
    options = parser.parse_args()
    folder = tempfile.TemporaryDirectory(prefix="harken-bench-")
    path = options.database or Path(folder.name) / "harken.db"
    if path.exists():
        print(f"reusing {path}")
    else:
        seconds = build(path, options.mentions)
        print(
            f"built {options.mentions:,} mentions in {seconds:.1f} s "
            f"({options.mentions / seconds:,.0f} a second, FTS5 triggers included); "
            f"{path.stat().st_size / 1e6:,.0f} MB"
        )
    storage = Storage(f"sqlite:///{path}")
    repeats = options.repeats
    count = storage.count_mentions(MentionQuery())
    print(f"{count:,} mentions stored; medians of {repeats} runs\n\nsearch (FTS5) vs LIKE scan")

    def find(query: MentionQuery) -> int:
        return len(storage.find_mentions(query, 50))

    for word in (RARE, COMMON):
        fts, found = timed(lambda w=word: find(MentionQuery(text=w)), repeats)  # type: ignore[misc]
        like, _ = timed(lambda w=word: like_search(path, w, 50), repeats)  # type: ignore[misc]
        line(f"newest 50 with {word!r}: FTS5", fts, found)
        line(f"newest 50 with {word!r}: LIKE baseline", like, _)
        print(f"  {'':<44} ratio LIKE/FTS5: {like / fts:.1f}")
    fts, found = timed(lambda: storage.count_mentions(MentionQuery(text=RARE)), repeats)
    like, _ = timed(lambda: like_search(path, RARE, None), repeats)
    line(f"count all with {RARE!r}: FTS5", fts, found)
    line(f"count all with {RARE!r}: LIKE baseline", like, _)
    print(f"  {'':<44} ratio LIKE/FTS5: {like / fts:.1f}")
    phrase, found = timed(lambda: find(MentionQuery(text='"down again"')), repeats)
    line('newest 50 with "down again" (phrase)', phrase, found)

    print("\nfiltered list vs the unfiltered newest 50")
    floor, found = timed(lambda: find(MentionQuery()), repeats)
    line("newest 50, no filter (baseline)", floor, found)
    month = NOW - timedelta(days=30)
    filters = {
        "severity urgent": MentionQuery(severities=("urgent",)),
        "severity urgent, state open, source hn": MentionQuery(
            severities=("urgent",), states=("open",), sources=("hn_acme",)
        ),
        "last 30 days, negative, tag outage": MentionQuery(
            since=month, sentiments=("negative",), tags=("outage",)
        ),
        "a year ago, one week, source x": MentionQuery(
            since=NOW - timedelta(days=365), until=NOW - timedelta(days=358), sources=("x_acme",)
        ),
        f"{COMMON!r}, severity high, last 30 days": MentionQuery(
            text=COMMON, severities=("high",), since=month
        ),
    }
    for name, query in filters.items():
        seconds, found = timed(lambda q=query: find(q), repeats)  # type: ignore[misc]
        print(
            f"  {name:<44} {seconds * 1000:10.1f} ms   {found!s:>8} found   "
            f"{seconds / floor:8.1f}x the unfiltered list"
        )

    print("\nexport of the last 30 days (one run each)")
    recent = MentionQuery(since=month)
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    bare = sum(
        1
        for _ in connection.execute(
            "SELECT * FROM mentions JOIN verdicts ON verdicts.mention_id = mentions.id "
            "LEFT JOIN alerts ON alerts.mention_id = mentions.id WHERE mentions.stored_at >= ? "
            "ORDER BY mentions.stored_at, mentions.id",
            (month.strftime("%Y-%m-%d %H:%M:%S.%f"),),
        )
    )
    connection.close()
    floor = time.perf_counter() - started
    print(
        f"  {'bare sqlite3 cursor (baseline)':<44} {bare / floor:10,.0f} rows/s   {bare:>8,} rows"
    )
    with open("/dev/null", "wb") as sink:
        started = time.perf_counter()
        rows = sum(sink.write(json_line(m)) > 0 for m in storage.each_mention(recent))
        seconds = time.perf_counter() - started
    print(
        f"  {'JSON Lines':<44} {rows / seconds:10,.0f} rows/s   {rows:>8,} rows   "
        f"{floor / seconds:.2f}x the baseline's speed"
    )
    with open("/dev/null", "w", encoding="utf-8", newline="") as sink_text:
        writer = csv.writer(sink_text)
        writer.writerow(FIELDS)
        started = time.perf_counter()
        rows = 0
        for mention in storage.each_mention(recent):
            writer.writerow(csv_row(mention))
            rows += 1
        seconds = time.perf_counter() - started
    print(
        f"  {'CSV':<44} {rows / seconds:10,.0f} rows/s   {rows:>8,} rows   "
        f"{floor / seconds:.2f}x the baseline's speed"
    )

    print("\npurge (retention)")
    cutoff = NOW - timedelta(days=DAYS) * 0.9
    started = time.perf_counter()
    purged = storage.purge_mentions(cutoff)
    seconds = time.perf_counter() - started
    print(
        f"  {'the oldest tenth, in batches':<44} {seconds:10.1f} s    "
        f"{purged.mentions:>8,} mentions, {purged.alerts:,} alerts "
        f"({purged.mentions / seconds:,.0f} a second)"
    )
    storage.close()


if __name__ == "__main__":
    main()
