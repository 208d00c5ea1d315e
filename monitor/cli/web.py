"""``harken web``: serve the web inbox, and what an admin needs to talk to the daemon's web
endpoint."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from monitor.alerts.links import MIN_SECRET_LENGTH
from monitor.cli.app import _config, _fail
from monitor.errors import HarkenError

web_cli = typer.Typer(help="The web inbox, and the daemon's web endpoint.", no_args_is_help=True)


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


@web_cli.command("serve")
def web_serve(
    listen: Annotated[
        str, typer.Option(metavar="HOST:PORT", help="where to serve the inbox")
    ] = "127.0.0.1:8080",
) -> None:
    """Serve the web inbox alone, against the config's database (see README, "Web inbox")."""
    import uvicorn

    from monitor.daemon import wiring
    from monitor.storage import Storage
    from monitor.web.app import create_app

    config = _config()
    secret_env = config.settings.web.secret_env
    secret = os.environ.get(secret_env, "") if secret_env else ""
    if len(secret) < MIN_SECRET_LENGTH:
        print(
            f"harken web will not start: the environment variable {secret_env or '([web] secret_env is empty)'} "
            f"must hold a random secret of {MIN_SECRET_LENGTH}+ characters to sign sessions with; "
            'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
            file=sys.stderr,
        )
        raise typer.Exit(1)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        print(f'--listen: "{listen}" is not host:port, e.g. 127.0.0.1:8080', file=sys.stderr)
        raise typer.Exit(2)
    try:
        storage = Storage(config.storage_url)
    except HarkenError as error:
        raise _fail(error) from None
    settings = config.settings
    app = create_app(
        storage,
        secret,
        now=wiring.utc_now,
        timezone=settings.organisation.timezone,
        sources=tuple(sorted(settings.sources)),
    )
    try:
        # proxy_headers off: the client's own address is what the sign-in rate limit counts,
        # and an X-Forwarded-For header from anyone would otherwise let them pick another.
        uvicorn.run(
            app, host=host.strip("[]"), port=int(port), proxy_headers=False, log_config=None
        )
    finally:
        storage.close()
