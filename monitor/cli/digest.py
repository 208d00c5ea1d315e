"""``harken digest``: render a digest to files, preview the next one, or email it."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import _config, _open
from monitor.duration import parse_duration
from monitor.errors import HarkenError


def digest(
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="how far back: 24h, 7d … [default: 24h; with --preview: since its last send]",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write the HTML here, and the text beside it as .txt"),
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
    from monitor.daemon.digests import digest_of, digest_start
    from monitor.digest import mail_digest, render_digest

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
            start = digest_start(harken, scheduled, end)  # the watermark stays where it is
        else:
            start = end - timedelta(hours=24)
        built = digest_of(harken, start, end, scheduled)
        email = render_digest(built, harken.templates)
        if out is not None:
            out.write_text(email.html_for_file(), encoding="utf-8")
            out.with_suffix(".txt").write_text(email.text, encoding="utf-8")
            print(
                f"wrote {out} and {out.with_suffix('.txt')}: {built.total} mentions since {start:%Y-%m-%d %H:%M} UTC"
            )
        if send:
            # By hand, the scheduled digest's watermark stays where it is.
            addresses = mail_digest(
                built, email, mailer=harken.mailer, config=config, scheduled=scheduled, now=end
            )
            print(f"sent the digest of {built.total} mentions to {', '.join(addresses)}")
    except (HarkenError, OSError) as error:
        print(str(error), file=sys.stderr)
        raise typer.Exit(1) from None
    finally:
        harken.close()
