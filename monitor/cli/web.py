"""``harken web``: serve the web inbox, and what an admin needs to talk to the daemon's web
endpoint."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from monitor.alerts.links import MIN_SECRET_LENGTH
from monitor.cli.app import _config, _fail
from monitor.errors import HarkenError

log = logging.getLogger("harken.web")

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
    """Serve the web inbox and the alert links alone, against the config's database, with
    /healthz and /metrics (see README, "Web inbox")."""
    from monitor.alerts.links import Links
    from monitor.daemon import wiring
    from monitor.daemon.healthz import OpsEndpoint, details_token
    from monitor.storage import Storage
    from monitor.web.app import create_app
    from monitor.web.serve import WebServer, bind

    config = _config()
    web = config.settings.web
    secret = os.environ.get(web.secret_env, "") if web.secret_env else ""
    if len(secret) < MIN_SECRET_LENGTH:
        print(
            f"harken web will not start: the environment variable {web.secret_env or '([web] secret_env is empty)'} "
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
    sources = tuple(sorted(settings.sources))
    # No scheduler and no jobs here: /healthz says the scheduler is "not in this process"
    # and answers 200 while the database does; /metrics has the database's gauges.
    ops = OpsEndpoint(
        storage, sources, wiring.utc_now, None, None, details_token(web.secret_env, os.environ)
    )
    # The links `harken run` emails carry the same secret's signature, wherever they point.
    links = Links(secret, web.link_base or f"http://{listen}", web.link_ttl)
    app = create_app(
        storage,
        secret,
        now=wiring.utc_now,
        timezone=settings.organisation.timezone,
        sources=sources,
        links=links,
        ops=ops,
    )
    try:
        server = WebServer(app, bind(host.strip("[]"), int(port)))
    except OSError as error:
        storage.close()
        print(f"harken web: cannot listen on {listen}: {error.strerror or error}", file=sys.stderr)
        raise typer.Exit(1) from None
    log.info("web: the web inbox and alert links served at %s", server.url)
    try:
        server.run()
    finally:
        storage.close()
