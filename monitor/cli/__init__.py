"""The ``harken`` command: the only place an error becomes an exit code and a message."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.config.secrets import secret_values
from monitor.config.settings import Config, config_path, load_config
from monitor.daemon import logs, wiring
from monitor.duration import parse_duration
from monitor.errors import ConfigError, HarkenError, ProblemsError
from monitor.triage.jsonl import triage_lines
from monitor.triage.sentiment.lexicon import load_lexicon

# The daemon's modules (storage, mail, scheduler) load only for the commands that use them,
# so `harken triage` and `harken rules check` start quickly.
if TYPE_CHECKING:
    from monitor.daemon.poll import PollSummary
    from monitor.daemon.service import Harken
    from monitor.storage import Storage

cli = typer.Typer(
    help="Harken: hear what the public says about your brand, and react before it becomes a crisis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rules_cli = typer.Typer(help="Check and try out the rule files.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")


class _State:
    config_file: str | None = None


state = _State()


@cli.callback()
def _options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config", "-c", help="config file [env HARKEN_CONFIG; default ./config.toml]"
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log debug details")] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", help="text for people, json for log collectors")
    ] = "text",
) -> None:
    state.config_file = config
    if log_format not in ("text", "json"):
        print(f'--log-format must be "text" or "json", not "{log_format}"', file=sys.stderr)
        raise typer.Exit(2)
    logs.configure("json" if log_format == "json" else "text", verbose)


def _config() -> Config:
    try:
        config = load_config(config_path(state.config_file))
    except HarkenError as error:
        raise _fail(error) from None
    logs.REDACT.hide(secret_values(config))
    return config


def _fail(error: HarkenError) -> typer.Exit:
    print(str(error), file=sys.stderr)
    return typer.Exit(1)


@cli.command()
def triage(
    jobs: Annotated[
        int, typer.Option(help="worker processes for large inputs [default: one per CPU]", min=1)
    ] = min(os.cpu_count() or 1, 8),
) -> None:
    """Read mentions as JSON Lines on stdin; write one verdict per line on stdout, in order."""
    try:
        config = _config()
        engine = wiring.build_triage(config, wiring.load_config_rules(config))
    except HarkenError as error:
        raise _fail(error) from None
    bad = 0
    for result in triage_lines(sys.stdin.buffer, engine, jobs):
        if result.verdict is None:
            bad += 1
            print(f"line {result.number}: {result.problem}", file=sys.stderr)
        else:
            sys.stdout.write(result.verdict + "\n")
    sys.stdout.flush()
    if bad:
        raise typer.Exit(1)


@rules_cli.command("check")
def rules_check(
    path: Annotated[
        Path | None, typer.Argument(help="rule file or folder [default: the config's rules path]")
    ] = None,
) -> None:
    """Validate the rule files and the config; print every problem as file:line: message."""
    try:
        config = load_config(config_path(state.config_file))
    except ConfigError as error:
        for problem in error.problems:
            print(str(problem))
        raise typer.Exit(1) from None
    try:
        rules = wiring.load_config_rules(config, path)
        load_lexicon(config.lexicon_path)
    except ProblemsError as error:
        for problem in error.problems:
            print(str(problem))
        count = len(error.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        raise typer.Exit(1) from None
    print(
        f"ok: {len(rules.rules)} rules in {len(rules.files)} files; config {config.path.name} is valid"
    )


@rules_cli.command("test")
def rules_test(
    text: Annotated[str, typer.Argument(help="the post to try, in quotes")],
    title: Annotated[str, typer.Option(help="a title or headline")] = "",
    source: Annotated[str, typer.Option(help="as if it came from this source")] = "test",
    lang: Annotated[str, typer.Option(help="its language, e.g. en")] = "",
    followers: Annotated[float | None, typer.Option(help="its author's followers")] = None,
    rules: Annotated[
        Path | None, typer.Option(help="rule file or folder [default: the config's]")
    ] = None,
) -> None:
    """Show how Harken would triage one post: brands, sentiment, which rules fire and why."""
    from monitor.mention import Mention

    config = _config()
    try:
        engine = wiring.build_triage(config, wiring.load_config_rules(config, rules))
    except HarkenError as error:
        raise _fail(error) from None
    metrics = {"followers": followers} if followers is not None else {}
    verdict = engine(
        Mention(source=source, id="test", text=text, title=title, lang=lang, metrics=metrics)
    )
    print(f"severity: {verdict.severity.value}")
    print(f"brands:   {', '.join(verdict.brands) or '(none)'}")
    print(f"feeling:  {verdict.sentiment.label} ({verdict.sentiment.compound:+.2f})")
    print(f"rules:    {', '.join(verdict.rules) or '(none fired)'}")
    if verdict.tags:
        print(f"tags:     {', '.join(verdict.tags)}")
    if verdict.notify:
        print(f"alerts:   {', '.join(verdict.notify)}")
    print("why:")
    for reason in verdict.reasons:
        print(f"  - {reason}")


@rules_cli.command("backtest")
def rules_backtest(
    since: Annotated[str, typer.Option(help="replay mentions stored in the last 7d, 24h …")] = "7d",
    rules: Annotated[
        Path | None, typer.Option(help="the new rule file or folder [default: the config's]")
    ] = None,
    show: Annotated[int, typer.Option(help="examples listed per change")] = 10,
) -> None:
    """Replay stored mentions through a rule set and print what would change."""
    from rich.progress import Progress

    from monitor.triage.backtest import backtest

    config = _config()
    try:
        period = parse_duration(since)
        engine = wiring.build_triage(config, wiring.load_config_rules(config, rules))
    except ValueError as error:
        print(str(error), file=sys.stderr)
        raise typer.Exit(2) from None
    except HarkenError as error:
        raise _fail(error) from None
    harken = _open(config)
    try:
        end = harken.now()
        stored = [entry.verdict for entry in harken.storage.verdicts_between(end - period, end)]
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        harken.close()
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("replaying", total=len(stored))
        result = backtest(stored, engine, lambda: progress.advance(task))
    print(
        f"replayed {result.replayed} mentions stored in the last {since}; {result.severity_changed} would change severity"
    )
    for heading, verdicts in (
        ("newly urgent", result.newly_urgent),
        ("no longer urgent", result.no_longer_urgent),
    ):
        print(f"\n{heading}: {len(verdicts)}")
        for verdict in verdicts[:show]:
            headline = " ".join((verdict.mention.title or verdict.mention.text).split())[:90]
            print(f"  {verdict.mention.source}: {headline}")
            print(
                f"    now: {verdict.severity.value}; rules: {', '.join(verdict.rules) or '(none)'}"
            )
    names = sorted(set(result.fired_before) | set(result.fired_after))
    print("\nfirings per rule (before -> after):")
    for name in names:
        before, after = result.fired_before[name], result.fired_after[name]
        change = f"  ({after - before:+d})" if after != before else ""
        print(f"  {name}: {before} -> {after}{change}")


def print_summaries(summaries: list[PollSummary]) -> None:
    """One aligned line per source; errors last on the line so they are never cut."""
    header = ("source", "fetched", "new", "matched", "stored", "urgent")
    rows = [
        (
            s.source,
            str(s.fetched),
            str(s.new),
            str(s.matched),
            str(s.stored),
            str(s.urgent),
            s.error or "",
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [(*header, "error"), *rows]:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:6], widths[1:], strict=True)
        ]
        print("  ".join([*cells, row[6]]).rstrip())


def _open(config: Config, **kwargs: Any) -> Harken:
    from monitor.daemon.service import Harken

    try:
        return Harken(config, **kwargs)
    except HarkenError as error:
        print("harken will not start:", file=sys.stderr)
        raise _fail(error) from None


@cli.command()
def poll() -> None:
    """Poll every enabled source once, store and alert what is new, print a summary."""
    config = _config()
    harken = _open(config)
    try:
        summaries = harken.poll_all()
        report = harken.deliver_alerts()
    finally:
        harken.close()
    print_summaries(summaries)
    if report.retrying or report.failed:
        print(
            f"alerts: {report.sent} sent, {report.retrying} waiting to retry, {report.failed} failed",
            file=sys.stderr,
        )
    if any(summary.error for summary in summaries):
        raise typer.Exit(1)


@cli.command()
def run(
    stop_grace: Annotated[
        str,
        typer.Option(
            help="on SIGTERM, wait this long for polls and sends under way, then exit 1 without them"
        ),
    ] = "30s",
) -> None:
    """Run the daemon: poll on schedule, alert, send digests; stop with Ctrl-C or SIGTERM."""
    try:
        grace = parse_duration(stop_grace)
    except ValueError as error:
        print(f"--stop-grace: {error}", file=sys.stderr)
        raise typer.Exit(2) from None
    config = _config()
    from monitor.daemon.scheduler import run_until_stopped

    # Several polls run at once in the daemon: parse feeds on every core.
    harken = _open(config, parse_processes=os.cpu_count() or 1)
    finished = True
    try:
        finished = run_until_stopped(harken, grace=grace)
    finally:
        if finished:
            harken.close()
    if not finished:
        # Python waits for every job thread at exit, and a stuck one never ends: leave now, as
        # systemd's SIGKILL would later. Each job's writes are one transaction, so none is half-done.
        logging.shutdown()
        os._exit(1)


@cli.command()
def doctor() -> None:
    """Check the config, rules, lexicon, database, SMTP and each source; exit 1 if any fails."""
    from monitor.cli.doctor import run_checks

    failed = False
    for check in run_checks(config_path(state.config_file)):
        print(check.line(), flush=True)
        failed = failed or not check.ok
    if failed:
        raise typer.Exit(1)


@cli.command()
def digest(
    since: Annotated[
        str | None,
        typer.Option(
            help="how far back: 24h, 7d … [default: 24h; with --preview: since its last send]"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="write the HTML here, and the text beside it as .txt")
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="email it to the digest recipients")] = False,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="write what the next scheduled digest would say to files (--out, default digest-preview.html), sending nothing",
        ),
    ] = False,
    name: Annotated[
        str,
        typer.Option(
            "--digest",
            help="which digest: a [[digests]] name (or its groups joined by +) [default: [digest]]",
        ),
    ] = "",
) -> None:
    """Render a digest to files (--out, --preview), or email it with --send."""
    try:
        config = _config()
        period = parse_duration(since) if since is not None else None
    except (HarkenError, ValueError) as error:
        print(str(error), file=sys.stderr)
        raise typer.Exit(1) from None
    try:
        scheduled = config.scheduled_digest(name)
    except KeyError:
        known = ", ".join(digest.label for digest in config.scheduled_digests)
        print(f'no digest called "{name}"; configured: {known}', file=sys.stderr)
        raise typer.Exit(2) from None
    from monitor.digest import digest_message_id, render_digest

    if out is None and not send and not preview:
        print("nothing to do: give --out FILE, --preview, --send, or more", file=sys.stderr)
        raise typer.Exit(2)
    if preview and out is None:
        out = Path("digest-preview.html")
    harken = _open(config)
    try:
        end = harken.now()
        if period is not None:
            start = end - period
        elif preview:
            start = harken.digest_start(scheduled, end)  # the watermark stays where it is
        else:
            start = end - timedelta(hours=24)
        built = harken.digest_of(start, end, scheduled)
        email = render_digest(built, harken.templates)
        if out is not None:
            out.write_text(email.html_for_file(), encoding="utf-8")
            out.with_suffix(".txt").write_text(email.text, encoding="utf-8")
            print(
                f"wrote {out} and {out.with_suffix('.txt')}: {built.total} mentions since {start:%Y-%m-%d %H:%M} UTC"
            )
        if send:
            addresses = config.addresses(scheduled.to)
            harken.mailer.send(
                addresses,
                email.subject,
                email.text,
                email.html,
                digest_message_id(built.start, built.end, scheduled.key),
                date=end,
                images=email.images,
            )
            print(f"sent the digest of {built.total} mentions to {', '.join(addresses)}")
    except (HarkenError, OSError) as error:
        print(str(error), file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        harken.close()


@cli.command()
def demo(
    out: Annotated[
        Path, typer.Option(help="folder for the digest, the alerts and the demo database")
    ] = Path("demo-out"),
) -> None:
    """Run the whole pipeline offline on bundled sample posts; write what it would send to files."""
    from monitor.demo import run_demo

    try:
        config = _config()
        result = run_demo(config, out)
    except HarkenError as error:
        raise _fail(error) from None
    print_summaries(result.summaries)
    print(f"urgent alerts Harken would email ({len(result.alerts)} files):")
    for path in result.alerts:
        print(f"  {path}")
    print(f"digest: {result.digest_html} and {result.digest_text}")
    print(f"stored mentions: {result.database}")


sources_cli = typer.Typer(help="See and try the configured sources.", no_args_is_help=True)
cli.add_typer(sources_cli, name="sources")


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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(
            "  ".join(
                [*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]]
            ).rstrip()
        )
    print(f"\ninstalled kinds: {', '.join(sorted(source_kinds()))}")


def describe_sources(harken: Harken) -> list[tuple[str, ...]]:
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
                f"backing off ({entry.consecutive_failures} failures)",
                _when(entry.backoff_until),
            )
        else:
            state = "failing" if entry and entry.failing_since else "ok"
            due = last_attempt + settings.every if last_attempt else None
            next_poll = _when(due) if due and due > now else "due now"
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
                _when(last_success) if last_success else "never",
                error[:90] + ("…" if len(error) > 90 else ""),
                str(harken.storage.mentions_stored_since(name, now - timedelta(days=1))),
                next_poll,
                state,
                note,
            )
        )
    return rows


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


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
        context = wiring.source_context(config, wiring.build_fetcher(config))
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


alerts_cli = typer.Typer(help="See, acknowledge and resolve alerts.", no_args_is_help=True)
cli.add_typer(alerts_cli, name="alerts")
_BY_HELP = "who is answering [default: your login name]"


def _storage(config: Config) -> Storage:
    from monitor.storage import Storage

    try:
        return Storage(config.storage_url)
    except HarkenError as error:
        raise _fail(error) from None


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no USER variable and no passwd entry, e.g. in a container
        return "unknown"


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())


@alerts_cli.command("list")
def alerts_list(
    everything: Annotated[bool, typer.Option("--all", help="resolved alerts too")] = False,
) -> None:
    """Alerts not resolved yet: raised, severity, source, state, level, owner, time to first response."""
    from monitor.alerts.history import alert_table

    config = _config()
    storage = _storage(config)
    try:
        statuses = storage.alert_statuses(include_resolved=everything)
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if not statuses:
        print("no alerts" if everything else "no open alerts")
        return
    _print_table(alert_table(statuses, config.settings.organisation.timezone, wiring.utc_now()))


def _answer(alert_id: int, action: str, who: str, note: str = "") -> None:
    from monitor.alerts.history import NAME_LIMIT, NOTE_LIMIT, clean_text, describe_change

    config = _config()
    who = clean_text(who, NAME_LIMIT)
    if not who:
        print("--by: give a name", file=sys.stderr)
        raise typer.Exit(2)
    storage = _storage(config)
    try:
        now = wiring.utc_now()
        if action == "ack":
            change = storage.acknowledge_alert(alert_id, now, who=who, via="cli")
        else:
            text = clean_text(note, NOTE_LIMIT)
            change = storage.resolve_alert(alert_id, now, who=who, via="cli", note=text)
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if change is None:
        print(f"no alert {alert_id}; `harken alerts list` shows the open ones", file=sys.stderr)
        raise typer.Exit(1)
    told = describe_change(change, action, config.settings.organisation.timezone)
    print(told, file=sys.stdout if change.changed else sys.stderr)
    if not change.changed:
        raise typer.Exit(1)


@alerts_cli.command("ack")
def alerts_ack(
    alert_id: Annotated[int, typer.Argument(help="the alert's number (harken alerts list)")],
    by: Annotated[str | None, typer.Option(help=_BY_HELP)] = None,
) -> None:
    """Acknowledge an alert: you own it, and it stops escalating."""
    _answer(alert_id, "ack", by or _login_name())


@alerts_cli.command("resolve")
def alerts_resolve(
    alert_id: Annotated[int, typer.Argument(help="the alert's number (harken alerts list)")],
    note: Annotated[str, typer.Option(help="what was done about it")],
    by: Annotated[str | None, typer.Option(help=_BY_HELP)] = None,
) -> None:
    """Resolve an alert with a note saying what was done."""
    if not note.strip():
        print("--note: say what was done", file=sys.stderr)
        raise typer.Exit(2)
    _answer(alert_id, "resolve", by or _login_name(), note)


@alerts_cli.command("show")
def alerts_show(
    alert_id: Annotated[int, typer.Argument(help="the alert's number (harken alerts list)")],
) -> None:
    """An alert's history: raised, notified, escalated, acknowledged, resolved; who and when."""
    from monitor.alerts.history import alert_table, history_lines

    config = _config()
    timezone = config.settings.organisation.timezone
    storage = _storage(config)
    try:
        status = storage.alert_status(alert_id)
        events = storage.alert_events(alert_id) if status else []
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if status is None:
        print(f"no alert {alert_id}; `harken alerts list --all` shows them all", file=sys.stderr)
        raise typer.Exit(1)
    _print_table(alert_table([status], timezone, wiring.utc_now()))
    print()
    for line in history_lines(events, timezone):
        print(line)


def main() -> None:
    cli()
