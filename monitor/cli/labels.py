"""``harken labels``: the corrections people made in the web inbox, exported for learning.

The export's fields are a contract (README, "Corrections"): the triage-model work trains on
them, so fields may be added at the end, none renamed or removed.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import orjson
import typer

from monitor.cli.app import _config, _fail
from monitor.cli.mentions import _moment, _storage
from monitor.duration import plural
from monitor.errors import HarkenError

if TYPE_CHECKING:
    from monitor.storage import LabelledMention

labels_cli = typer.Typer(
    help="Export the corrections people made to verdicts.", no_args_is_help=True
)


def export_fields() -> tuple[str, ...]:
    """The export's columns, in order: LabelledMention's fields."""
    from monitor.storage import LabelledMention

    return tuple(field.name for field in fields(LabelledMention))


def csv_cells(label: LabelledMention) -> list[str]:
    """One label as CSV cells: times in ISO 8601, no note as "", booleans as JSON spells them."""
    cells = []
    for name in export_fields():
        value = getattr(label, name)
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, datetime):
            cells.append(value.isoformat())
        else:
            cells.append(str(value))
    return cells


def write_labels(labels: Iterator[LabelledMention], output_format: str, target: IO[bytes]) -> int:
    """Write ``labels`` to ``target`` as CSV or JSON Lines; how many."""
    written = 0
    if output_format == "jsonl":
        for label in labels:
            target.write(orjson.dumps(label) + b"\n")
            written += 1
        return written
    # UTF-8 with "\r\n" rows (RFC 4180); newline="" keeps line breaks inside cells as they are.
    text = io.TextIOWrapper(target, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(export_fields())
        for label in labels:
            writer.writerow(csv_cells(label))
            written += 1
        text.flush()
    finally:
        text.detach()  # the caller owns (and closes) the byte stream
    return written


@labels_cli.command("export")
def labels_export(
    output_format: Annotated[
        str, typer.Option("--format", metavar="jsonl|csv", help="JSON Lines or CSV")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option(metavar="FILE", help="write here [default: stdout]")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="labelled since: 30d, 12h, 2026-01-01 [default: all]"),
    ] = None,
) -> None:
    """Every label, oldest first, with its mention's text, Harken's value and who made it."""
    if output_format not in ("csv", "jsonl"):
        print(f'--format must be "jsonl" or "csv", not "{output_format}"', file=sys.stderr)
        raise typer.Exit(2)
    config = _config()
    start = _moment("--since", since, config.settings.organisation.timezone)
    storage = _storage(config)
    try:
        with ExitStack() as stack:
            target = sys.stdout.buffer if output is None else stack.enter_context(output.open("wb"))
            written = write_labels(storage.each_label(start), output_format, target)
            target.flush()
    except HarkenError as error:
        raise _fail(error) from None
    except OSError as error:
        print(f"cannot write {output}: {error.strerror or error}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        storage.close()
    if output is not None:
        print(f"exported {plural(written, 'label')} to {output}", file=sys.stderr)
