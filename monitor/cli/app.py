"""What every harken command shares: the app, its global options, and errors made exits."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from monitor.config.load import config_path, load_config
from monitor.config.secrets import secret_values
from monitor.config.settings import Config
from monitor.daemon import logs
from monitor.errors import HarkenError

# The daemon's modules (storage, mail, scheduler) load only for the commands that use them,
# so `harken triage` and `harken rules check` start quickly.
if TYPE_CHECKING:
    from monitor.daemon.wiring import App

_CONFIG_HELP = "config file [env HARKEN_CONFIG; default ./config.toml]"
_VERBOSE_HELP = "log debug details"
_LOG_FORMAT_HELP = "text for people, json for log collectors"


class _State:
    config_file: str | None = None
    verbose: bool = False
    log_format: str = "text"


state = _State()


def _set_logging(verbose: bool | None = None, log_format: str | None = None) -> None:
    if verbose is not None:
        state.verbose = state.verbose or verbose
    if log_format is not None:
        if log_format not in ("text", "json"):
            print(f'--log-format must be "text" or "json", not "{log_format}"', file=sys.stderr)
            raise typer.Exit(2)
        state.log_format = log_format
    logs.configure("json" if state.log_format == "json" else "text", state.verbose)


def _set_config(value: str | None) -> None:
    if value is not None:
        state.config_file = value


def _set_verbose(value: bool | None) -> None:
    if value:
        _set_logging(verbose=True)


def _set_log_format(value: str | None) -> None:
    if value is not None:
        _set_logging(log_format=value)


_LATE_SETTERS: dict[str, Callable[[Any], None]] = {
    "config": _set_config,
    "verbose": _set_verbose,
    "log_format": _set_log_format,
}


def _late_option(option: Any) -> Any:
    """A copy of a global option that a command accepts after its name, as people write it."""
    late = copy.copy(option)
    late.default = None  # absent after the command name: what came before it stands
    late.expose_value = False
    setter = _LATE_SETTERS[option.name]
    late.callback = lambda _context, _param, value: setter(value)
    return late


def _commands(group: TyperGroup) -> Iterator[Any]:
    for command in group.commands.values():
        if isinstance(command, TyperGroup):
            yield from _commands(command)
        else:
            yield command


class _HarkenGroup(TyperGroup):
    """The root group: every command takes the global options after its name too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        late = [_late_option(option) for option in self.params if option.name in _LATE_SETTERS]
        for command in _commands(self):
            command.params.extend(late)
            for param in command.params:
                # Typer's own metavars read "<str>" and "{name}"; a plain word reads better.
                if param.metavar is None and not getattr(param, "is_flag", False):
                    param.metavar = (param.name or "value").upper()


cli = typer.Typer(
    cls=_HarkenGroup,
    help="Harken: hear what the public says about your brand, and react before it becomes a crisis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help reads as written: rich markup would eat "[digest]" and "[env …]" in help texts.
    rich_markup_mode=None,
)


@cli.callback()
def _options(
    config: Annotated[
        str | None, typer.Option("--config", "-c", metavar="FILE", help=_CONFIG_HELP)
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help=_VERBOSE_HELP)] = False,
    log_format: Annotated[
        str, typer.Option("--log-format", metavar="text|json", help=_LOG_FORMAT_HELP)
    ] = "text",
) -> None:
    state.config_file = config
    _set_logging(verbose, log_format)


def _config() -> Config:
    try:
        config = load_config(config_path(state.config_file))
    except HarkenError as error:
        raise _fail(error) from None
    logs.REDACT.hide(secret_values(config))
    return config


def _fail(error: HarkenError) -> typer.Exit:
    # An error may name a feed's URL with the credentials someone wrote into it.
    print(logs.REDACT(str(error)), file=sys.stderr)
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
