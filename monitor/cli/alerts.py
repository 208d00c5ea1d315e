"""``harken alerts``: list, acknowledge, resolve and show alerts, straight from the database."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import _config, _fail, print_table
from monitor.config.settings import Config
from monitor.daemon import wiring
from monitor.errors import HarkenError

if TYPE_CHECKING:
    from monitor.storage import Storage

alerts_cli = typer.Typer(help="See, acknowledge and resolve alerts.", no_args_is_help=True)
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
    print_table(alert_table(statuses, config.settings.organisation.timezone, wiring.utc_now()))


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
    by: Annotated[str | None, typer.Option(metavar="NAME", help=_BY_HELP)] = None,
) -> None:
    """Acknowledge an alert: you own it, and it stops escalating."""
    _answer(alert_id, "ack", by or _login_name())


@alerts_cli.command("resolve")
def alerts_resolve(
    alert_id: Annotated[int, typer.Argument(help="the alert's number (harken alerts list)")],
    note: Annotated[str, typer.Option(metavar="TEXT", help="what was done about it")],
    by: Annotated[str | None, typer.Option(metavar="NAME", help=_BY_HELP)] = None,
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
    print_table(alert_table([status], timezone, wiring.utc_now()))
    print()
    for line in history_lines(events, timezone):
        print(line)
