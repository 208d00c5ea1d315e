"""The daemon's small HTTP endpoint: alert links that acknowledge and resolve, and its health.

``/healthz`` and ``/metrics`` are served whenever ``[web] listen`` is set; the alert links only
when a link secret is configured too.

A GET only shows what the link would do, with a button: mail scanners fetch links to look for
malware, and that must not acknowledge anything. The POST behind the button acts, once: the
alert's state moves on, so a second click is told who answered it and when. Neither pages nor
logs ever show the secret, and logs leave out the links' signatures.
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from monitor.alerts.history import (
    NAME_LIMIT,
    NOTE_LIMIT,
    Lifecycle,
    clean_text,
    describe_change,
    describe_state,
    when,
)
from monitor.alerts.links import ACTIONS, LinkCheck, Links
from monitor.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.daemon.metrics import Metrics, scrape_registry
from monitor.daemon.metrics import render as render_metrics
from monitor.errors import DatabaseUnavailable, HarkenError
from monitor.mail.templates import excerpt
from monitor.storage import AlertStatus, Storage

if TYPE_CHECKING:
    from monitor.daemon.wiring import App

log = logging.getLogger("harken.web")

MAX_BODY = 16_384  # bytes of a submitted form
_PATH = re.compile(r"^/alerts/(\d{1,15})/([a-z]+)$")
_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the signed link must not leak to other sites
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}
_VERB = {"ack": "Acknowledge", "resolve": "Resolve"}


@dataclass(frozen=True)
class Page:
    status: int
    title: str
    body: str  # HTML, every outside value already escaped


@dataclass(frozen=True)
class Reply:
    """A plain answer: JSON for ``/healthz``, Prometheus text for ``/metrics``."""

    status: int
    content_type: str
    body: bytes


_NOT_A_LINK = Page(404, "Not a Harken link", "<p>This address is not a link Harken made.</p>")


@dataclass(frozen=True)
class _Link:
    alert_id: int
    action: str


class LinkEndpoint:
    """What the endpoint answers, apart from HTTP itself: easy to reason about, and to test."""

    def __init__(
        self,
        storage: Lifecycle,
        links: Links,
        now: Callable[[], datetime],
        timezone: str = "UTC",
    ) -> None:
        self.storage = storage
        self.links = links
        self.now = now
        self.timezone = timezone

    def answer(self, method: str, target: str, form: dict[str, str]) -> Page:
        """The page for one request; only a POST with a valid link acts."""
        link, refusal = self._check(target)
        if refusal is not None:
            return refusal
        assert link is not None
        try:
            return self._act(link, form) if method == "POST" else self._confirm(link)
        except HarkenError as error:
            log.error("web: alert %d: %s", link.alert_id, error)
            return Page(503, "Try again shortly", "<p>Harken could not reach its database.</p>")

    def _check(self, target: str) -> tuple[_Link | None, Page | None]:
        parts = urlsplit(target)
        match = _PATH.match(parts.path)
        query = parse_qs(parts.query)
        expires, signature = query.get("expires", [""])[0], query.get("sig", [""])[0]
        if match is None or match[2] not in ACTIONS or not expires.isdigit() or not signature:
            return None, _NOT_A_LINK
        link = _Link(int(match[1]), match[2])
        checked = self.links.check(
            link.alert_id, link.action, int(expires[:12]), signature[:100], self.now()
        )
        if checked is LinkCheck.FORGED:
            return None, Page(
                403,
                "This link is not valid",
                "<p>It was not made by this Harken, or it was changed after it was sent. "
                "Open the link exactly as it is in the alert email, or use the command line: "
                f"<code>harken alerts {_command(link)}</code>.</p>",
            )
        if checked is LinkCheck.EXPIRED:
            return None, Page(
                410,
                "This link has expired",
                f"<p>Links in alert emails work for a limited time. To {link.action} alert "
                f"{link.alert_id} now, run <code>harken alerts {_command(link)}</code>.</p>",
            )
        return link, None

    def _confirm(self, link: _Link) -> Page:
        status = self.storage.alert_status(link.alert_id)
        if status is None:
            return Page(404, f"No alert {link.alert_id}", "<p>Harken has no such alert.</p>")
        if status.state == "resolved" or (link.action == "ack" and status.state != "open"):
            done = describe_state(status, self.timezone)
            return Page(200, f"Alert {status.id} was already {done}", self._summary(status))
        return Page(200, f"{_VERB[link.action]} alert {status.id}?", self._form(status, link))

    def _act(self, link: _Link, form: dict[str, str]) -> Page:
        who = clean_text(form.get("by", ""), NAME_LIMIT)
        note = clean_text(form.get("note", ""), NOTE_LIMIT)
        missing = (
            "your name" if not who else "a note" if link.action == "resolve" and not note else ""
        )
        if missing:
            status = self.storage.alert_status(link.alert_id)
            if status is None:
                return Page(404, f"No alert {link.alert_id}", "<p>Harken has no such alert.</p>")
            body = f"<p><strong>Please give {missing}.</strong></p>" + self._form(status, link)
            return Page(400, f"{_VERB[link.action]} alert {status.id}?", body)
        now = self.now()
        if link.action == "ack":
            change = self.storage.acknowledge_alert(link.alert_id, now, who=who, via="link")
        else:
            change = self.storage.resolve_alert(link.alert_id, now, who=who, via="link", note=note)
        if change is None:
            return Page(404, f"No alert {link.alert_id}", "<p>Harken has no such alert.</p>")
        told = describe_change(change, link.action, self.timezone)
        if change.changed:
            log.info("web: %s", told)
            return Page(200, told[0].upper() + told[1:], self._summary(change.status))
        return Page(409, told[0].upper() + told[1:], self._summary(change.status))

    def _summary(self, status: AlertStatus) -> str:
        rows = [
            ("Severity", status.severity),
            ("Source", status.source),
            ("Mention", excerpt(status.title, 200)),
            ("Raised", when(status.created_at, self.timezone)),
            ("State", describe_state(status, self.timezone)),
            ("Escalation level", str(status.level)),
        ]
        if status.resolution:
            rows.append(("Resolution", status.resolution))
        cells = "".join(
            f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
            for name, value in rows
        )
        return f"<table>{cells}</table>"

    def _form(self, status: AlertStatus, link: _Link) -> str:
        explain = (
            "Acknowledging makes you its owner and stops its escalation."
            if link.action == "ack"
            else "Resolving closes it for good; say what was done."
        )
        note = (
            '<label>Note <textarea name="note" rows="4" required '
            f'maxlength="{NOTE_LIMIT}"></textarea></label>'
            if link.action == "resolve"
            else ""
        )
        return (
            self._summary(status)
            + f"<p>{explain}</p>"
            + '<form method="post">'
            + f'<label>Your name <input name="by" required maxlength="{NAME_LIMIT}"></label>'
            + note
            + f'<button type="submit">{_VERB[link.action]} alert {status.id}</button></form>'
        )


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


def _command(link: _Link) -> str:
    return (
        f'resolve {link.alert_id} --note "…"'
        if link.action == "resolve"
        else f"ack {link.alert_id}"
    )


def render(page: Page) -> bytes:
    title = html.escape(page.title)
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} · Harken</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;"
        "color:#1f2328;background:#fff}th{text-align:left;padding-right:1em;color:#57606a}"
        "label{display:block;margin:.8em 0}input,textarea{display:block;width:100%;font:inherit}"
        "button{font:inherit;padding:.5em 1.2em}</style></head>"
        f"<body><h1>{title}</h1>{page.body}</body></html>"
    ).encode()


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
        handler = _handler_for(endpoint, ops)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
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
    return Reply(page.status, _HEADERS["Content-Type"], render(page)), _HEADERS


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
            return _page_reply(_NOT_A_LINK)
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
                self._reply(*_page_reply(Page(413, "Too much", "<p>That form is too large.</p>")))
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
