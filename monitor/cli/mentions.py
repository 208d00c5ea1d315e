"""``harken mentions``: list, search, show, export and purge the stored mentions."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import _config, _fail
from monitor.cli.mention_views import (
    mention_lines,
    print_jsonl,
    print_mention_table,
    write_export,
)
from monitor.config.settings import Config
from monitor.daemon import wiring
from monitor.duration import parse_moment, plural
from monitor.errors import HarkenError
from monitor.mention import Severity

if TYPE_CHECKING:
    from monitor.storage import MentionQuery, Storage

mentions_cli = typer.Typer(
    help="List, search, show, export and purge the stored mentions.", no_args_is_help=True
)

_STATES = {"open": "open", "acked": "acknowledged", "acknowledged": "acknowledged"}
_STATES |= {"resolved": "resolved", "none": "none"}
_SENTIMENTS = ("negative", "neutral", "positive")

# Every filter, the same on list, search and export. A filter given twice means either value.
Since = Annotated[
    str | None,
    typer.Option(metavar="WHEN", help="stored since: 7d, 12h, 2026-01-01, 2026-01-01T09:30"),
]
Until = Annotated[str | None, typer.Option(metavar="WHEN", help="stored before: as --since")]
BrandOption = Annotated[list[str] | None, typer.Option("--brand", help="names this brand")]
SeverityOption = Annotated[
    list[str] | None, typer.Option("--severity", help="urgent, high, normal, low or ignore")
]
SentimentOption = Annotated[
    list[str] | None, typer.Option("--sentiment", help="negative, neutral or positive")
]
SourceOption = Annotated[list[str] | None, typer.Option("--source", help="a configured source")]
TagOption = Annotated[list[str] | None, typer.Option("--tag", help="tagged so by a rule")]
AuthorOption = Annotated[list[str] | None, typer.Option("--author", help="written by (any case)")]
StateOption = Annotated[
    list[str] | None,
    typer.Option("--state", help="its alert's: open, acked, resolved, or none (raised none)"),
]
TextOption = Annotated[
    str | None, typer.Option("--text", help='words and "quoted phrases", all of them')
]
Limit = Annotated[int, typer.Option(min=1, help="show at most this many, newest first")]
AsJson = Annotated[
    bool, typer.Option("--json", help="JSON Lines for scripts (the export's fields)")
]


def _query(
    config: Config,
    *,
    since: str | None,
    until: str | None,
    brand: list[str] | None,
    severity: list[str] | None,
    sentiment: list[str] | None,
    source: list[str] | None,
    tag: list[str] | None,
    author: list[str] | None,
    state: list[str] | None,
    text: str | None,
) -> MentionQuery:
    """The filters as typed, checked and made one query; mistakes exit 2 with the fix."""
    from monitor.storage import MentionQuery

    severities = _choices("--severity", severity, {s.value: s.value for s in Severity})
    sentiments = _choices("--sentiment", sentiment, {s: s for s in _SENTIMENTS})
    states = _choices("--state", state, _STATES)
    timezone = config.settings.organisation.timezone
    return MentionQuery(
        since=_moment("--since", since, timezone),
        until=_moment("--until", until, timezone),
        brands=tuple(brand or ()),
        severities=severities,
        sentiments=sentiments,
        sources=tuple(source or ()),
        tags=tuple(tag or ()),
        authors=tuple(author or ()),
        states=states,
        text=text or "",
    )


def _choices(option: str, given: list[str] | None, known: dict[str, str]) -> tuple[str, ...]:
    chosen = []
    for value in given or ():
        if value.lower() not in known:
            print(f"{option}: {value!r} is not one of {', '.join(known)}", file=sys.stderr)
            raise typer.Exit(2)
        chosen.append(known[value.lower()])
    return tuple(dict.fromkeys(chosen))


def _moment(option: str, given: str | None, timezone: str) -> datetime | None:
    if given is None:
        return None
    try:
        return parse_moment(given, wiring.utc_now(), timezone)
    except ValueError as error:
        print(f"{option}: {error}", file=sys.stderr)
        raise typer.Exit(2) from None


def _storage(config: Config) -> Storage:
    from monitor.storage import Storage

    try:
        return Storage(config.storage_url)
    except HarkenError as error:
        raise _fail(error) from None


def _show_found(config: Config, query: MentionQuery, limit: int, as_json: bool) -> None:
    storage = _storage(config)
    try:
        found = storage.find_mentions(query, limit)
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if as_json:
        print_jsonl(found)
        return
    if not found:
        print("no mentions match", file=sys.stderr)
        return
    print_mention_table(found, config.settings.organisation.timezone)
    if len(found) == limit:
        print(f"the newest {limit} shown; --limit shows more", file=sys.stderr)


@mentions_cli.command("list")
def mentions_list(
    since: Since = None,
    until: Until = None,
    brand: BrandOption = None,
    severity: SeverityOption = None,
    sentiment: SentimentOption = None,
    source: SourceOption = None,
    tag: TagOption = None,
    author: AuthorOption = None,
    state: StateOption = None,
    text: TextOption = None,
    limit: Limit = 50,
    as_json: AsJson = False,
) -> None:
    """Stored mentions, newest first: id, stored, severity, sentiment, source, author, alert
    state, title."""
    config = _config()
    query = _query(
        config,
        since=since,
        until=until,
        brand=brand,
        severity=severity,
        sentiment=sentiment,
        source=source,
        tag=tag,
        author=author,
        state=state,
        text=text,
    )
    _show_found(config, query, limit, as_json)


@mentions_cli.command("search")
def mentions_search(
    words: Annotated[str, typer.Argument(help='words and "quoted phrases" that must all appear')],
    since: Since = None,
    until: Until = None,
    brand: BrandOption = None,
    severity: SeverityOption = None,
    sentiment: SentimentOption = None,
    source: SourceOption = None,
    tag: TagOption = None,
    author: AuthorOption = None,
    state: StateOption = None,
    limit: Limit = 50,
    as_json: AsJson = False,
) -> None:
    """Mentions whose title, text or author hold every word and phrase, newest first."""
    config = _config()
    query = _query(
        config,
        since=since,
        until=until,
        brand=brand,
        severity=severity,
        sentiment=sentiment,
        source=source,
        tag=tag,
        author=author,
        state=state,
        text=words,
    )
    _show_found(config, query, limit, as_json)


@mentions_cli.command("show")
def mentions_show(
    mention_id: Annotated[int, typer.Argument(help="the mention's number (harken mentions list)")],
) -> None:
    """Everything about one mention: text, verdict, rules that fired, sightings, alerts."""
    config = _config()
    storage = _storage(config)
    try:
        found = storage.mention(mention_id)
        sightings = storage.sightings(mention_id) if found else []
        alerts = []
        for alert_id in storage.mention_alert_ids(mention_id) if found else []:
            status = storage.alert_status(alert_id)
            if status is not None:
                alerts.append((status, storage.alert_events(alert_id)))
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if found is None:
        print(f"no mention {mention_id}; `harken mentions list` shows them", file=sys.stderr)
        raise typer.Exit(1)
    timezone = config.settings.organisation.timezone
    for line in mention_lines(found, sightings, alerts, timezone, wiring.utc_now()):
        print(line)


@mentions_cli.command("export")
def mentions_export(
    output_format: Annotated[
        str, typer.Option("--format", metavar="csv|jsonl", help="CSV or JSON Lines")
    ] = "jsonl",
    output: Annotated[
        Path | None, typer.Option(metavar="FILE", help="write here [default: stdout]")
    ] = None,
    since: Since = None,
    until: Until = None,
    brand: BrandOption = None,
    severity: SeverityOption = None,
    sentiment: SentimentOption = None,
    source: SourceOption = None,
    tag: TagOption = None,
    author: AuthorOption = None,
    state: StateOption = None,
    text: TextOption = None,
) -> None:
    """Every matching mention, oldest first, with its verdict and alert state, streamed."""
    if output_format not in ("csv", "jsonl"):
        print(f'--format must be "csv" or "jsonl", not "{output_format}"', file=sys.stderr)
        raise typer.Exit(2)
    config = _config()
    query = _query(
        config,
        since=since,
        until=until,
        brand=brand,
        severity=severity,
        sentiment=sentiment,
        source=source,
        tag=tag,
        author=author,
        state=state,
        text=text,
    )
    storage = _storage(config)
    try:
        written = write_export(storage, query, output_format, output)
    except HarkenError as error:
        raise _fail(error) from None
    except OSError as error:
        print(f"cannot write {output}: {error.strerror or error}", file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        storage.close()
    if output is not None:
        print(f"exported {plural(written, 'mention')} to {output}", file=sys.stderr)


@mentions_cli.command("purge")
def mentions_purge(
    before: Annotated[
        str, typer.Option(metavar="WHEN", help="stored before: 2025-01-01, or 400d ago")
    ],
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not ask; needed without a terminal")
    ] = False,
) -> None:
    """Delete the mentions stored before a date, with their verdicts, alerts and history."""
    from monitor.storage import MentionQuery

    config = _config()
    cutoff = _moment("--before", before, config.settings.organisation.timezone)
    assert cutoff is not None
    when = f"{cutoff:%Y-%m-%d %H:%M} UTC"
    if not yes and not sys.stdin.isatty():
        print(
            "harken mentions purge deletes for good; without a terminal to confirm on, add --yes",
            file=sys.stderr,
        )
        raise typer.Exit(2)
    storage = _storage(config)
    try:
        if not yes:
            count = storage.count_mentions(MentionQuery(until=cutoff))
            if count == 0:
                print(f"no mentions stored before {when}")
                return
            question = f"delete {plural(count, 'mention')} stored before {when}, with their alerts?"
            if not typer.confirm(question, default=False):
                print("nothing deleted", file=sys.stderr)
                raise typer.Exit(1)
        purged = storage.purge_mentions(cutoff)
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    print(
        f"purged {plural(purged.mentions, 'mention')} stored before {when} "
        f"({plural(purged.alerts, 'alert')} with their history)"
    )
