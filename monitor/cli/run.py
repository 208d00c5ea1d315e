"""``harken poll``, ``run`` and ``demo``: the pipeline once, until stopped, or offline."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import _config, _fail, _open
from monitor.duration import parse_duration, plural
from monitor.errors import HarkenError

if TYPE_CHECKING:
    from monitor.daemon.summary import PollSummary


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


def poll() -> None:
    """Poll every enabled source once, store and alert what is new, print a summary."""
    from monitor.daemon.deliver import deliver_alerts
    from monitor.daemon.poll import poll_all

    config = _config()
    harken = _open(config)
    try:
        summaries = poll_all(harken)
        report = deliver_alerts(harken)
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


def run(
    stop_grace: Annotated[
        str,
        typer.Option(
            metavar="DURATION",
            help="on SIGTERM, wait this long for polls and sends under way, then exit 1 without them",
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


def demo(
    out: Annotated[
        Path,
        typer.Option(metavar="DIR", help="folder for the digest, the alerts and the demo database"),
    ] = Path("demo-out"),
) -> None:
    """Run the whole pipeline offline on bundled sample posts; write what it would send to files."""
    from monitor.alerts.outbox import terminal_command
    from monitor.demo import run_demo

    try:
        config = _config()
        result = run_demo(config, out)
    except HarkenError as error:
        raise _fail(error) from None
    print_summaries(result.summaries)
    emails = sum(path.suffix == ".txt" for path in result.alerts)  # each has a .txt and a .html
    print(f"{plural(emails, 'urgent alert')} Harken would email, each as text and HTML:")
    for path in result.alerts:
        print(f"  {path}")
    print(f"digest: {result.digest_html} and {result.digest_text}")
    print(f"stored mentions: {result.database}")
    print(
        f"what it stored, as the other commands see it: {terminal_command(result.config)} alerts list"
    )
