"""``harken web``: what an admin needs to talk to the daemon's web endpoint."""

from __future__ import annotations

import os
import sys

import typer

from monitor.alerts.links import MIN_SECRET_LENGTH
from monitor.cli.app import _config

web_cli = typer.Typer(help="The daemon's web endpoint.", no_args_is_help=True)


@web_cli.command("token")
def web_token() -> None:
    """Print the bearer token that shows /healthz details (errors, last successes)."""
    from monitor.daemon.healthz import details_token

    secret_env = _config().settings.web.secret_env
    token = details_token(secret_env, os.environ)
    if token is None:
        print(
            f"no token: the environment variable {secret_env or '([web] secret_env is empty)'} "
            f"must hold the link secret ({MIN_SECRET_LENGTH}+ characters), as for `harken run`",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    print(token)
