"""``harken triage``: one verdict per mention piped in, with no database and no daemon."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from monitor.cli.app import _config, _fail
from monitor.daemon import wiring
from monitor.errors import HarkenError
from monitor.triage.jsonl import triage_lines


def triage(
    jobs: Annotated[
        int,
        typer.Option(
            metavar="N", help="worker processes for large inputs [default: one per CPU]", min=1
        ),
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
