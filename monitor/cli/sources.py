"""``harken sources``: how every configured source is doing, and a dry-run poll of one."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import _config, _fail, _open, print_table
from monitor.daemon import wiring
from monitor.duration import moment_for_people, plural
from monitor.errors import HarkenError

if TYPE_CHECKING:
    from monitor.daemon.wiring import App

sources_cli = typer.Typer(help="See and try the configured sources.", no_args_is_help=True)


@sources_cli.command("list")
def sources_list() -> None:
    """Every configured source: kind, last success and error, items in the last day, next poll."""
    from monitor.source import source_kinds

    config = _config()
    harken = _open(config)
    try:
        rows = describe_sources(harken)
    finally:
        harken.close()
    print_table(rows)
    print(f"\ninstalled kinds: {', '.join(sorted(source_kinds()))}")


def describe_sources(harken: App) -> list[tuple[str, ...]]:
    """The table of ``harken sources list``: a header, then one row per configured source."""
    now = harken.now()
    health = {entry.source: entry for entry in harken.storage.source_health()}
    built = {source.name: source for source in harken.sources}
    rows: list[tuple[str, ...]] = [
        ("source", "kind", "last success", "last error", "last day", "next poll", "state", "note")
    ]
    for name, settings in harken.config.sources.items():
        entry = health.get(name)
        source = built.get(name)
        last_success = entry.last_success_at if entry else None
        last_attempt = max(
            filter(None, [last_success, entry.last_error_at if entry else None]), default=None
        )
        if not settings.enabled:
            state, next_poll = "off (enabled = false)", "-"
        elif source is None:
            state, next_poll = "not configured (see the log)", "-"
        elif entry and entry.disabled_reason:
            state, next_poll = "disabled until restart", "-"
        elif entry and entry.backoff_until and entry.backoff_until > now:
            state, next_poll = (
                f"backing off ({plural(entry.consecutive_failures, 'failure')})",
                moment_for_people(entry.backoff_until, now),
            )
        else:
            state = "failing" if entry and entry.failing_since else "ok"
            due = last_attempt + settings.every if last_attempt else None
            next_poll = moment_for_people(due, now) if due and due > now else "due now"
        error = (entry.last_error or "") if entry and entry.failing_since else ""
        if error.startswith(("http://", "https://")):
            # The address is the source's own (see `sources test`): keep the room for what
            # went wrong and which setting to change.
            error = error.partition(": ")[2] or error
        note = source.describe(harken.storage.cursor(name)) if source else ""
        rows.append(
            (
                name,
                settings.type,
                moment_for_people(last_success, now) if last_success else "never",
                error[:90] + ("…" if len(error) > 90 else ""),
                str(harken.storage.mentions_stored_since(name, now - timedelta(days=1))),
                next_poll,
                state,
                note,
            )
        )
    return rows


@sources_cli.command("test")
def sources_test(
    name: Annotated[str, typer.Argument(help="the source's name in config.toml")],
) -> None:
    """Poll one source once from scratch and print what Harken would store; store nothing."""
    from monitor.source import source_kind

    config = _config()
    settings = config.sources.get(name)
    if settings is None:
        known = ", ".join(config.sources) or "none"
        print(f'no source "{name}" in {config.path}; configured: {known}', file=sys.stderr)
        raise typer.Exit(2)
    try:
        engine = wiring.build_triage(config, wiring.load_config_rules(config))
        # A trial poll reads every item, so its "new" counts all the source sees, not only
        # the items that may name a brand.
        context = replace(wiring.source_context(config, wiring.build_fetcher(config)), needles=None)
        kind = source_kind(settings.type)
        assert kind is not None  # load_config accepted the type, so it loads
        source = kind(name, settings, context)
        print(f"{name} ({settings.type}) {source.describe({})}".rstrip())
        poll = source.poll({})
    except HarkenError as error:
        raise _fail(error) from None
    verdicts = [engine(mention) for mention in poll.mentions]
    kept = [verdict for verdict in verdicts if verdict.matched]
    for verdict in kept:
        mention = verdict.mention
        headline = " ".join((mention.title or mention.text).split())[:100]
        print(f"{verdict.severity.value:7} {verdict.sentiment.compound:+.2f}  {headline}")
        print(f"        {mention.url or mention.id}")
    print(
        f"{poll.fetched} fetched, {len(poll.mentions)} new, {len(kept)} name a brand and would be stored"
    )
