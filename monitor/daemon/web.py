"""The daemon's small HTTP endpoint: alert links that acknowledge and resolve, and its health.

``/healthz`` and ``/metrics`` are served whenever ``[web] listen`` is set; the alert links
(their pages are monitor.daemon.link_pages) only when a link secret is configured too.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from monitor.daemon.healthz import OpsEndpoint, Reply, details_token
from monitor.daemon.link_pages import NOT_A_LINK, PAGE_HEADERS, LinkEndpoint, Page, render

if TYPE_CHECKING:
    from monitor.daemon.wiring import App

log = logging.getLogger("harken.web")

MAX_BODY = 16_384  # bytes of a submitted form


class _Server(ThreadingHTTPServer):
    """A thread per request, room for a burst of connections, and quiet about rude clients."""

    # socketserver's backlog of 5 left a burst of 200 health checks mostly waiting on TCP's SYN
    # retries (1 s, 3 s, 7 s, …); the kernel trims this to net.core.somaxconn.
    request_queue_size = 1024
    daemon_threads = True  # a client holding its connection open must not hold up the exit

    def handle_error(self, request: object, client_address: object) -> None:
        # socketserver prints a traceback to stderr, raw text in the middle of a JSON log.
        error = sys.exc_info()[1]
        client = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, ConnectionError | TimeoutError):
            # The client hung up or stalled (a load balancer's probe timing out, a closed tab).
            log.debug("web: %s went away before its answer: %s", client, error)
            return
        log.exception("web: answering %s failed", client)


class LinkServer:
    """The endpoint served over HTTP by the standard library, in a background thread.

    ``endpoint`` None serves no alert links (their addresses answer 404); ``ops`` adds
    ``/healthz`` and ``/metrics``.
    """

    def __init__(
        self,
        endpoint: LinkEndpoint | None,
        host: str,
        port: int,
        ops: OpsEndpoint | None = None,
    ) -> None:
        self._server = _Server((host, port), _handler_for(endpoint, ops))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="harken-web", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def start(self) -> LinkServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests, let the one under way finish, close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _page_reply(page: Page) -> tuple[Reply, dict[str, str]]:
    return Reply(page.status, PAGE_HEADERS["Content-Type"], render(page)), PAGE_HEADERS


_OPS_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _handler_for(
    endpoint: LinkEndpoint | None, ops: OpsEndpoint | None
) -> type[BaseHTTPRequestHandler]:
    def answer(
        method: str, target: str, form: dict[str, str], authorization: str = ""
    ) -> tuple[Reply, dict[str, str]]:
        parts = urlsplit(target)
        if ops is not None and method == "GET" and parts.path in OpsEndpoint.PATHS:
            reply = ops.answer(parts.path, parse_qs(parts.query), authorization)
            headers = {"Content-Type": reply.content_type, **_OPS_HEADERS, **(reply.headers or {})}
            return reply, headers
        if endpoint is None:
            return _page_reply(NOT_A_LINK)
        return _page_reply(endpoint.answer(method, target, form))

    class _Handler(BaseHTTPRequestHandler):
        server_version = "Harken"
        sys_version = ""
        timeout = 15  # a client that stalls must not hold a thread for ever

        def do_GET(self) -> None:
            self._reply(*answer("GET", self.path, {}, self.headers.get("Authorization", "")))

        def do_HEAD(self) -> None:
            authorization = self.headers.get("Authorization", "")
            self._reply(*answer("GET", self.path, {}, authorization), body=False)

        def do_POST(self) -> None:
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                self.close_connection = True
                self._reply(*_page_reply(Page.message(413, "Too much", "That form is too large.")))
                return
            raw = self.rfile.read(int(length)).decode("utf-8", "replace")
            fields = {key: values[0] for key, values in parse_qs(raw).items()}
            self._reply(*answer("POST", self.path, fields))

        def _reply(self, reply: Reply, headers: dict[str, str], body: bool = True) -> None:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if body:
                self.wfile.write(reply.body)
            # The path only: the query holds the link's signature.
            log.debug("web: %s %s -> %d", self.command, urlsplit(self.path).path, reply.status)

        def log_message(self, format: str, *args: object) -> None:
            pass  # http.server would log the whole request line, signature included

    return _Handler


def serve_links(app: App, scheduler_alive: Callable[[], bool]) -> LinkServer | None:
    """Start the endpoint ``[web] listen`` names; None if it is not serving.

    ``/healthz`` and ``/metrics`` are served whenever it listens, alert links only when a link
    secret is configured. A port already taken is logged, not fatal: alerts matter more than
    links, and another Harken sharing the database may be the one serving them.
    """
    web = app.config.settings.web
    if not web.listen:
        return None
    host, port = web.address
    endpoint = (
        LinkEndpoint(app.storage, app.links, app.now, app.config.settings.organisation.timezone)
        if app.links is not None
        else None
    )
    sources = [source.name for source in app.sources]
    token = details_token(web.secret_env, os.environ)
    ops = OpsEndpoint(app.storage, sources, app.now, scheduler_alive, app.metrics, token)
    try:
        server = LinkServer(endpoint, host, port, ops).start()
    except OSError as error:
        log.error(
            "web: cannot listen on %s (%s); this process serves no alert links or health",
            web.listen,
            error.strerror or error,
        )
        return None
    if endpoint is not None:
        log.info("web: alert links served at %s (with /healthz and /metrics)", server.url)
    else:
        log.info("web: /healthz and /metrics served at %s (no alert links)", server.url)
    return server
