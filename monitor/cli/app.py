"""What every harken command shares: the app, its global options, and errors made exits."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.config.load import config_path, load_config
from monitor.config.secrets import secret_values
from monitor.config.settings import Config
from monitor.daemon import logs
from monitor.errors import HarkenError

# The daemon's modules (storage, mail, scheduler) load only for the commands that use them,
# so `harken triage` and `harken rules check` start quickly.
if TYPE_CHECKING:
    from monitor.daemon.wiring import App

cli = typer.Typer(
    help="Harken: hear what the public says about your brand, and react before it becomes a crisis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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


def _open(config: Config, **kwargs: Any) -> App:
    from monitor.daemon import wiring

    try:
        return wiring.open_app(config, **kwargs)
    except HarkenError as error:
        print("harken will not start:", file=sys.stderr)
        raise _fail(error) from None


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Print rows in lined-up columns; the last is not padded, so long text there widens nothing."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
