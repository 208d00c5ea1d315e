"""``harken run``'s web server: the web app (monitor.web) on ``[web] listen``, in a thread.

It serves what a lone ``harken web serve`` serves (the inbox, the alert links in emails) and
``/healthz`` and ``/metrics`` with the scheduler's heartbeat and this process's counters.
Without a link secret only ``/healthz`` and ``/metrics`` answer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from monitor.daemon.healthz import OpsEndpoint, details_token
from monitor.web.app import create_app
from monitor.web.serve import WebServer, bind

if TYPE_CHECKING:
    from monitor.daemon.wiring import App

log = logging.getLogger("harken.web")


def serve_web(app: App, scheduler_alive: Callable[[], bool]) -> WebServer | None:
    """Start serving on the address ``[web] listen`` names; None if it is not serving.

    A port already taken is logged, not fatal: alerts matter more than links, and another
    Harken sharing the database may be the one serving them.
    """
    web = app.config.settings.web
    if not web.listen:
        return None
    host, port = web.address
    sources = [source.name for source in app.sources]
    token = details_token(web.secret_env, os.environ)
    ops = OpsEndpoint(app.storage, sources, app.now, scheduler_alive, app.metrics, token)
    # The links' secret signs the inbox's sessions too: with no links there is no inbox.
    secret = os.environ.get(web.secret_env, "") if app.links is not None else None
    site = create_app(
        app.storage,
        secret,
        now=app.now,
        timezone=app.config.settings.organisation.timezone,
        sources=tuple(sources),
        links=app.links,
        ops=ops,
    )
    try:
        server = WebServer(site, bind(host.strip("[]"), port)).start()
    except OSError as error:
        log.error(
            "web: cannot listen on %s (%s); this process serves no alert links or health",
            web.listen,
            error.strerror or error,
        )
        return None
    if app.links is not None:
        log.info(
            "web: alert links served at %s (with the web inbox, /healthz and /metrics)", server.url
        )
    else:
        log.info("web: /healthz and /metrics served at %s (no alert links)", server.url)
    return server
