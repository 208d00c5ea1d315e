"""``/healthz`` and ``/metrics``: what a load balancer, Prometheus and an admin ask the daemon.

``/healthz`` tells anyone only what a load balancer needs: up or not, the database, the
scheduler and each source's state in one word. Errors, since-when times and last successes (an
error names a feed's host and path) go only to a caller holding the health token, derived from
the link secret (``harken web token`` prints it), as ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from monitor.alerts.links import MIN_SECRET_LENGTH
from monitor.daemon.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from monitor.daemon.metrics import Metrics, scrape_registry
from monitor.daemon.metrics import render as render_metrics
from monitor.errors import DatabaseUnavailable, HarkenError
from monitor.storage import SourceHealth, Storage
from monitor.web.ops import Reply

log = logging.getLogger("harken.web")

_TOKEN_CONTEXT = b"harken-healthz-details-v1"  # a token for this and nothing else


def details_token(secret_env: str, environ: Mapping[str, str]) -> str | None:
    """The ``/healthz`` details token, or None when no usable link secret is set."""
    secret = environ.get(secret_env, "") if secret_env else ""
    return health_token(secret) if len(secret) >= MIN_SECRET_LENGTH else None


def health_token(secret: str) -> str:
    """The bearer token that unlocks ``/healthz`` details, derived from the link secret.

    Derived rather than the secret itself, so the key that signs alert links never travels in
    a request header (nor lands in a proxy's log); it cannot be turned back into the secret.
    """
    digest = hmac.new(secret.encode(), _TOKEN_CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def source_state(row: SourceHealth | None) -> str:
    """One word for a source: ok, failing, disabled, or unknown before its first poll."""
    if row is None:
        return "unknown"
    if row.disabled_reason:
        return "disabled"
    if row.failing_since is not None:
        return "failing"
    return "ok" if row.last_success_at is not None else "unknown"


# What a `harken web serve` process says of the scheduler: the workers run elsewhere.
NO_SCHEDULER = "not in this process"


class OpsEndpoint:
    """Answers ``/healthz`` and ``/metrics``; ``scheduler_alive`` and ``metrics`` are None in
    a process that runs no jobs (``harken web serve``)."""

    PATHS = ("/healthz", "/metrics")

    def __init__(
        self,
        storage: Storage,
        sources: Sequence[str],
        now: Callable[[], datetime],
        scheduler_alive: Callable[[], bool] | None,
        metrics: Metrics | None,
        token: str | None = None,
    ) -> None:
        self.storage = storage
        self.sources = tuple(sources)
        self.now = now
        self.scheduler_alive = scheduler_alive
        self.registry = scrape_registry(storage, scheduler_alive, metrics)
        self.started_at = now()
        self._token = token  # None: no secret configured, so no caller gets details

    def answer(self, path: str, query: Mapping[str, list[str]], authorization: str) -> Reply:
        if path != "/healthz":
            return self.prometheus()
        if self.authorised(authorization):
            return self.health(details=True)
        if query.get("details", [""])[0] not in ("", "0"):
            return self.refuse()
        return self.health(details=False)

    def authorised(self, authorization: str) -> bool:
        scheme, _, given = authorization.strip().partition(" ")
        if self._token is None or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self._token.encode())

    def refuse(self) -> Reply:
        why = (
            "send Authorization: Bearer TOKEN, where TOKEN is what `harken web token` prints"
            if self._token is not None
            else "details need a link secret ([web] secret_env), and none is set"
        )
        return _json(401, {"error": f"/healthz details: {why}"}, {"WWW-Authenticate": "Bearer"})

    def health(self, details: bool) -> Reply:
        """200 while the scheduler runs and the database answers, 503 when the scheduler has
        stopped, a read fails or writes have been failing."""
        now = self.now()
        # A lone `harken web` runs no scheduler: its health is its database's.
        alive = self.scheduler_alive() if self.scheduler_alive is not None else True
        report: dict[str, object] = {
            "status": "ok" if alive else "unavailable",
            "checked_at": now.isoformat(),
            "scheduler": {"alive": alive, "started_at": self.started_at.isoformat()}
            if self.scheduler_alive is not None
            else NO_SCHEDULER,
        }
        try:
            health = {row.source: row for row in self.storage.source_health()}
        except HarkenError as error:
            if not isinstance(error, DatabaseUnavailable):  # an outage is logged once, by storage
                log.error("web: healthz: %s", error)
            report["status"] = "unavailable"
            database: dict[str, object] = {"reachable": False}
            if details:  # it names the database's host and name
                database["error"] = str(error)
            if (outage := self.storage.availability.outage) is not None:
                database["failing_since"] = outage.since.isoformat()
            report["database"] = database
            report["sources"] = [{"name": name, "state": "unknown"} for name in self.sources]
            return _json(503, report)
        outage = self.storage.availability.outage
        if outage is None:
            report["database"] = {"reachable": True}
        else:
            # The read above may answer (SQLite locked by another process) while writes fail.
            report["status"] = "unavailable"
            report["database"] = {
                "reachable": False,
                **({"error": outage.error} if details else {}),
                "failing_since": outage.since.isoformat(),
            }
        report["sources"] = [
            _source(name, health.get(name), details) for name in self.sources or tuple(health)
        ]
        return _json(200 if outage is None and alive else 503, report)

    def prometheus(self) -> Reply:
        """The process's counters, then what the database says (``harken_database_up`` 0 if
        it cannot be read or writes have been failing), then the process's memory and CPU."""
        return Reply(200, METRICS_CONTENT_TYPE, render_metrics(self.registry))


def _source(name: str, row: SourceHealth | None, details: bool) -> dict[str, object]:
    entry: dict[str, object] = {"name": name, "state": source_state(row)}
    if details:
        entry |= {
            "last_success_at": _iso(row.last_success_at if row else None),
            "last_error": row.last_error if row else None,
            "last_error_at": _iso(row.last_error_at if row else None),
            "failing_since": _iso(row.failing_since if row else None),
            "disabled": row.disabled_reason if row else None,
        }
    return entry


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _json(
    status: int, report: dict[str, object], headers: Mapping[str, str] | None = None
) -> Reply:
    body = json.dumps(report, indent=2).encode()
    return Reply(status, "application/json", body, headers)
