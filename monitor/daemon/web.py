"""The daemon's small HTTP endpoint: alert links that acknowledge and resolve, and its health.

``/healthz`` and ``/metrics`` are served whenever ``[web] listen`` is set; the alert links
(their pages are monitor.daemon.link_pages) only when a link secret is configured too.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from monitor.daemon.link_pages import NOT_A_LINK, PAGE_HEADERS, LinkEndpoint, Page, render
from monitor.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.daemon.metrics import Metrics, scrape_registry
from monitor.daemon.metrics import render as render_metrics
from monitor.errors import DatabaseUnavailable, HarkenError
from monitor.storage import Storage

if TYPE_CHECKING:
    from monitor.daemon.wiring import App

log = logging.getLogger("harken.web")

MAX_BODY = 16_384  # bytes of a submitted form


@dataclass(frozen=True)
class Reply:
    """A plain answer: JSON for ``/healthz``, Prometheus text for ``/metrics``."""

    status: int
    content_type: str
    body: bytes


class OpsEndpoint:
    """``/healthz`` and ``/metrics``: what a load balancer and Prometheus ask the daemon."""

    PATHS = ("/healthz", "/metrics")

    def __init__(
        self,
        storage: Storage,
        sources: Sequence[str],
        now: Callable[[], datetime],
        scheduler_alive: Callable[[], bool],
        metrics: Metrics,
    ) -> None:
        self.storage = storage
        self.sources = tuple(sources)
        self.now = now
        self.scheduler_alive = scheduler_alive
        self.registry = scrape_registry(storage, scheduler_alive, metrics)
        self.started_at = now()

    def answer(self, path: str) -> Reply:
        return self.health() if path == "/healthz" else self.prometheus()

    def health(self) -> Reply:
        """200 while the scheduler runs and the database answers, 503 when the scheduler has
        stopped, a read fails or writes have been failing."""
        now = self.now()
        alive = self.scheduler_alive()
        report: dict[str, object] = {
            "status": "ok" if alive else "unavailable",
            "checked_at": now.isoformat(),
            "scheduler": {"alive": alive, "started_at": self.started_at.isoformat()},
        }
        try:
            health = {row.source: row for row in self.storage.source_health()}
        except HarkenError as error:
            if not isinstance(error, DatabaseUnavailable):  # an outage is logged once, by storage
                log.error("web: healthz: %s", error)
            report["status"] = "unavailable"
            database: dict[str, object] = {"reachable": False, "error": str(error)}
            if (outage := self.storage.availability.outage) is not None:
                database["failing_since"] = outage.since.isoformat()
            report["database"] = database
            report["sources"] = [{"name": name} for name in self.sources]
            return _json(503, report)
        outage = self.storage.availability.outage
        if outage is None:
            report["database"] = {"reachable": True}
        else:
            # The read above may answer (SQLite locked by another process) while writes fail.
            report["status"] = "unavailable"
            report["database"] = {
                "reachable": False,
                "error": outage.error,
                "failing_since": outage.since.isoformat(),
            }
        sources = []
        for name in self.sources or tuple(health):
            row = health.get(name)
            sources.append(
                {
                    "name": name,
                    "last_success_at": _iso(row.last_success_at if row else None),
                    "last_error": row.last_error if row else None,
                    "last_error_at": _iso(row.last_error_at if row else None),
                    "failing_since": _iso(row.failing_since if row else None),
                    "disabled": row.disabled_reason if row else None,
                }
            )
        report["sources"] = sources
        return _json(200 if outage is None and alive else 503, report)

    def prometheus(self) -> Reply:
        """The process's counters, then what the database says (``harken_database_up`` 0 if
        it cannot be read or writes have been failing), then the process's memory and CPU."""
        return Reply(200, METRICS_CONTENT_TYPE, render_metrics(self.registry))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _json(status: int, report: dict[str, object]) -> Reply:
    body = json.dumps(report, indent=2).encode()
    return Reply(status, "application/json", body)


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
    def answer(method: str, target: str, form: dict[str, str]) -> tuple[Reply, dict[str, str]]:
        path = urlsplit(target).path
        if ops is not None and method == "GET" and path in OpsEndpoint.PATHS:
            reply = ops.answer(path)
            return reply, {"Content-Type": reply.content_type, **_OPS_HEADERS}
        if endpoint is None:
            return _page_reply(NOT_A_LINK)
        return _page_reply(endpoint.answer(method, target, form))

    class _Handler(BaseHTTPRequestHandler):
        server_version = "Harken"
        sys_version = ""
        timeout = 15  # a client that stalls must not hold a thread for ever

        def do_GET(self) -> None:
            self._reply(*answer("GET", self.path, {}))

        def do_HEAD(self) -> None:
            self._reply(*answer("GET", self.path, {}), body=False)

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
    ops = OpsEndpoint(app.storage, sources, app.now, scheduler_alive, app.metrics)
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
