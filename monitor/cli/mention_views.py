"""How ``harken mentions`` shows mentions: the table, one mention whole, CSV and JSON Lines.

Mention text is hostile: the table gets it as rich ``Text`` (never markup), and what is printed
whole has its control characters (terminal escapes among them) made visible as spaces.
"""

from __future__ import annotations

import csv
import sys
import unicodedata
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson

from monitor.alerts.history import alert_table, history_lines, when
from monitor.mail.templates import excerpt

if TYPE_CHECKING:
    from monitor.storage import FoundMention, MentionQuery, Sighting, Storage
    from monitor.storage.records import AlertEvent, AlertStatus

# The export's columns, in order: FoundMention's fields (README documents them: a contract).
FIELDS = (
    "id",
    "stored_at",
    "published",
    "source",
    "item_id",
    "url",
    "canonical_url",
    "title",
    "text",
    "author",
    "lang",
    "thread_id",
    "parent_id",
    "metrics",
    "brands",
    "severity",
    "sentiment",
    "compound",
    "sentence",
    "rules",
    "tags",
    "notify",
    "reasons",
    "reply",
    "state",
)
_WIDE_ENOUGH = 160  # columns for the table when stdout is no terminal (a pipe, a file)


def json_line(found: FoundMention) -> bytes:
    """One mention as a JSON Lines line: times in ISO 8601 with their UTC offset."""
    return orjson.dumps(found) + b"\n"


def csv_row(found: FoundMention) -> list[str]:
    """One mention as CSV cells: lists and metrics as JSON text, so they read back exactly."""
    cells = []
    for name in FIELDS:
        value = getattr(found, name)
        if value is None:
            cells.append("")
        elif isinstance(value, datetime):
            cells.append(value.isoformat())
        elif isinstance(value, list | dict):
            cells.append(orjson.dumps(value).decode())
        else:
            cells.append(str(value))
    return cells


def print_jsonl(found: Iterable[FoundMention]) -> None:
    """Mentions as JSON Lines on stdout."""
    out = sys.stdout.buffer
    for mention in found:
        out.write(json_line(mention))
    out.flush()


def print_mention_table(found: list[FoundMention], timezone: str) -> None:
    """``harken mentions list``: one row per mention, text taken literally."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for header in ("id", "stored", "severity", "sentiment", "source", "author", "state"):
        table.add_column(header, no_wrap=True)
    table.add_column("title", no_wrap=True, overflow="ellipsis")
    for mention in found:
        cells = (
            str(mention.id),
            when(mention.stored_at, timezone),
            mention.severity,
            mention.sentiment,
            mention.source,
            excerpt(mention.author, 24) or "-",
            mention.state,
            excerpt(mention.title or mention.text, 80),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console = Console(width=None if sys.stdout.isatty() else _WIDE_ENOUGH, highlight=False)
    console.print(table)


def mention_lines(
    found: FoundMention,
    sightings: list[Sighting],
    alerts: list[tuple[AlertStatus, list[AlertEvent]]],
    timezone: str,
    now: datetime,
) -> Iterator[str]:
    """``harken mentions show``: the mention, its verdict, where it was seen, its alerts."""
    published = when(found.published, timezone) if found.published else "-"
    yield f"mention {found.id}"
    yield from _pairs(
        ("stored", when(found.stored_at, timezone)),
        ("published", published),
        ("source", f"{found.source} (item {_printable(found.item_id)})"),
        ("url", found.url or "-"),
        ("author", found.author or "-"),
        ("language", found.lang or "-"),
        ("title", found.title or "-"),
    )
    yield "  text"
    for line in _printable(found.text).splitlines() or ["-"]:
        yield f"    {line}"
    yield "verdict"
    sentiment = f"{found.sentiment} ({found.compound:+.2f})"
    if found.sentence:
        sentiment += f', read from "{found.sentence}"'
    yield from _pairs(
        ("severity", found.severity),
        ("sentiment", sentiment),
        ("brands", ", ".join(found.brands) or "-"),
        ("rules fired", ", ".join(found.rules) or "none"),
        ("tags", ", ".join(found.tags) or "-"),
        ("notify", ", ".join(found.notify) or "-"),
        ("reply", found.reply or "-"),
    )
    if found.reasons:
        yield "  why"
        for reason in found.reasons:
            yield f"    - {_printable(reason)}"
    yield "seen"
    for sighting in sightings:
        yield f"  {when(sighting.seen_at, timezone)}  {sighting.source}  {_printable(sighting.url)}"
    if not alerts:
        yield "alerts: none raised"
        return
    yield "alerts"
    for status, events in alerts:
        rows = alert_table([status], timezone, now)
        widths = [max(len(cells[i]) for cells in rows) for i in range(len(rows[0]))]
        for cells in rows:
            yield "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        for line in history_lines(events, timezone):
            yield f"    {line}"


def _pairs(*pairs: tuple[str, str]) -> Iterator[str]:
    for label, value in pairs:  # one line each: a title's line breaks would read as labels
        yield f"  {label:<12} {' '.join(_printable(value).split())}"


def _printable(text: str) -> str:
    """Controls (terminal escapes included) as spaces; line breaks kept."""
    return "".join(
        " " if unicodedata.category(char) in {"Cc", "Cf"} and char != "\n" else char
        for char in text
    )


def write_export(
    storage: Storage, query: MentionQuery, output_format: str, output: Path | None
) -> int:
    """Stream the mentions ``query`` selects to ``output`` (stdout when None); how many.

    Writing to a file, a progress bar goes to stderr; on stdout it would be in the data.
    """
    with ExitStack() as stack:
        if output is None:
            target: IO[bytes] = sys.stdout.buffer
            advance = None
        else:
            target = stack.enter_context(output.open("wb"))
            advance = stack.enter_context(_Progress(storage.count_mentions(query)))
        written = 0
        rows = storage.each_mention(query)
        if output_format == "csv":
            written = _write_csv(target, rows, advance)
        else:
            for mention in rows:
                target.write(json_line(mention))
                written += 1
                if advance is not None:
                    advance()
        target.flush()
    return written


def _write_csv(target: IO[bytes], rows: Iterable[FoundMention], advance: Any) -> int:
    import io

    # UTF-8 with "\r\n" rows (RFC 4180); newline="" keeps line breaks inside cells as they are.
    text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(FIELDS)
        written = 0
        for mention in rows:
            writer.writerow(csv_row(mention))
            written += 1
            if advance is not None:
                advance()
        text.flush()
    finally:
        text.detach()  # the caller owns (and closes) the byte stream
    return written


class _Progress:
    """A rich progress bar on stderr, advanced by calling what ``with`` hands back."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._bar.add_task("export", total=total)
        self._pending = 0

    def __enter__(self) -> Any:
        self._bar.start()
        return self._advance

    def _advance(self) -> None:
        # Updating rich per row would cost more than the export itself; every 1000 rows suffices.
        self._pending += 1
        if self._pending >= 1000:
            self._bar.advance(self._task, self._pending)
            self._pending = 0

    def __exit__(self, *_: object) -> None:
        self._bar.advance(self._task, self._pending)
        self._bar.stop()
