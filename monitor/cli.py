"""The ``harken`` command: the only place an error becomes an exit code and a message."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitor import app as wiring
from monitor.config import Config, config_path, load_config
from monitor.errors import ConfigError, HarkenError, ProblemsError
from monitor.jsonl import read_mention, verdict_line
from monitor.pipeline import PollSummary

cli = typer.Typer(
    help="Harken: hear what the public says about your brand, and react before it becomes a crisis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
rules_cli = typer.Typer(help="Check and try out the rule files.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")

out = Console()
err = Console(stderr=True)


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
) -> None:
    state.config_file = config
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Library chatter (every HTTP request) drowns out what a person needs to see.
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _config() -> Config:
    return load_config(config_path(state.config_file))


def _fail(error: HarkenError) -> typer.Exit:
    err.print(str(error), markup=False, highlight=False)
    return typer.Exit(1)


@cli.command()
def triage() -> None:
    """Read mentions as JSON Lines on stdin; write one verdict per line on stdout, in order."""
    try:
        config = _config()
        engine = wiring.build_triage(config, wiring.load_config_rules(config))
    except HarkenError as error:
        raise _fail(error) from None
    bad = 0
    write = sys.stdout.write
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        try:
            mention = read_mention(line)
        except ValueError as problem:
            bad += 1
            print(f"line {number}: {problem}", file=sys.stderr)
            continue
        write(verdict_line(engine(mention)) + "\n")
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
        config = _config()
    except ConfigError as error:
        for problem in error.problems:
            out.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(1) from None
    try:
        rules = wiring.load_config_rules(config, path)
    except ProblemsError as error:
        for problem in error.problems:
            out.print(str(problem), markup=False, highlight=False)
        count = len(error.problems)
        err.print(f"{count} problem{'s' if count != 1 else ''} found", markup=False)
        raise typer.Exit(1) from None
    out.print(
        f"ok: {len(rules.rules)} rules in {len(rules.files)} files; config {config.path.name} is valid",
        markup=False,
        highlight=False,
    )


def print_summaries(summaries: list[PollSummary]) -> None:
    table = Table("source", "fetched", "new", "matched", "stored", "urgent", "error")
    for summary in summaries:
        table.add_row(
            summary.source,
            str(summary.fetched),
            str(summary.new),
            str(summary.matched),
            str(summary.stored),
            str(summary.urgent),
            summary.error or "",
        )
    out.print(table)


def main() -> None:
    cli()
