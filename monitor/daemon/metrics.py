"""What the daemon counts for ``/metrics`` (kept by prometheus_client), and what a scrape reads
from the database.

Counters live in the running app (each its own registry) and start at zero on every restart,
as Prometheus expects. What
the database already keeps (the outbox, source health, digests) is read from it at each scrape,
so it survives restarts and every Harken sharing the database reports the same.

Alert latency runs from the moment Harken first stored the mention (when its alert was queued)
to the moment the SMTP server or channel accepted the alert, retries included. The mention's
published time is not used: it is the platform's clock, many feeds leave it out, and the first
poll of a feed's backlog would fill the top bucket with day-old items on every start. So the
wait for the next poll is not in it; ``bench/soak.py`` measures the whole way, feed to inbox.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from monitor.errors import DatabaseUnavailable, HarkenError
from monitor.mention import Severity

if TYPE_CHECKING:
    from monitor.daemon.summary import PollSummary
    from monitor.storage import Storage

log = logging.getLogger("harken.web")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_DATABASE_UP = "1 if the database answers reads and writes."

# From a local SMTP server's fraction of a second to an hour of retries against a dead one.
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, math.inf)

# A `_created` series beside every counter doubles what Prometheus stores and tells no operator
# anything the process's start time does not.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """One app's counters and alert latency histogram; safe to update from any thread."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.polls = Counter(
            "harken_polls",
            "Polls of each source, failed or not.",
            ["source"],
            registry=self.registry,
        )
        self.poll_errors = Counter(
            "harken_poll_errors",
            "Failed polls, by source and kind of error (fetch, rate_limited, access_denied, "
            "gone, bad_payload, not_configured, database, storage, unexpected).",
            ["source", "kind"],
            registry=self.registry,
        )
        self.mentions_stored = Counter(
            "harken_mentions_stored",
            "Mentions stored by this process, by the severity the rules gave them.",
            ["severity"],
            registry=self.registry,
        )
        for severity in Severity:
            self.mentions_stored.labels(severity.value)  # every severity scrapes, 0 until seen
        self.alert_latency = Histogram(
            "harken_alert_latency_seconds",
            "From storing a mention to the SMTP server or channel accepting its alert.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.digest_sends = Counter(
            "harken_digest_sends",
            "Scheduled digests handed to SMTP (ok) or not (failed), by digest.",
            ["digest", "outcome"],
            registry=self.registry,
        )

    def record_poll(self, summary: PollSummary) -> None:
        """Count one poll, its error if any, and the mentions it stored by severity."""
        self.polls.labels(summary.source).inc()
        if summary.error is not None:
            self.poll_errors.labels(summary.source, summary.error_kind or "unknown").inc()
        for severity, count in summary.severities.items():
            self.mentions_stored.labels(severity).inc(count)

    def record_alert_accepted(self, stored_at: datetime, accepted_at: datetime) -> None:
        self.alert_latency.observe(max(0.0, (accepted_at - stored_at).total_seconds()))

    def record_digest(self, digest: str, sent: bool) -> None:
        self.digest_sends.labels(digest, "ok" if sent else "failed").inc()


class _DatabaseCollector(Collector):
    """Gauges read at each scrape: the scheduler, and what the database holds."""

    def __init__(self, storage: Storage, scheduler_alive: Callable[[], bool] | None) -> None:
        self.storage = storage
        self.scheduler_alive = scheduler_alive

    def describe(self) -> Iterable[Metric]:
        return ()  # registering must not touch the database

    def collect(self) -> Iterable[Metric]:
        if self.scheduler_alive is not None:
            alive = self.scheduler_alive()
            yield _gauge("harken_scheduler_up", "1 while the scheduler runs the polls.", alive)
        try:
            counts = self.storage.alert_counts()
            health = self.storage.source_health()
            digest_end = self.storage.last_digest_end(None)
        except HarkenError as error:
            if not isinstance(error, DatabaseUnavailable):  # an outage is logged once, by storage
                log.error("web: metrics: %s", error)
            yield _gauge("harken_database_up", _DATABASE_UP, 0)
            return
        # Reads may answer (SQLite locked by another process) while every write fails.
        up = self.storage.availability.outage is None
        yield _gauge("harken_database_up", _DATABASE_UP, int(up))
        outbox = GaugeMetricFamily(
            "harken_outbox_depth",
            "Alerts in the outbox waiting to be sent (pending) or given up on (failed).",
            labels=["status"],
        )
        for status in ("pending", "failed"):
            outbox.add_metric([status], counts.get(status, 0))
        yield outbox
        last_success = GaugeMetricFamily(
            "harken_source_last_success_timestamp_seconds",
            "When each source last polled without error (Unix time).",
            labels=["source"],
        )
        failures = GaugeMetricFamily(
            "harken_source_consecutive_failures",
            "Failed polls of each source since its last success.",
            labels=["source"],
        )
        for row in health:
            if row.last_success_at is not None:
                last_success.add_metric([row.source], row.last_success_at.timestamp())
            failures.add_metric([row.source], row.consecutive_failures)
        yield last_success
        yield failures
        if digest_end is not None:
            yield _gauge(
                "harken_last_digest_end_timestamp_seconds",
                "The end of the latest digest period recorded (Unix time).",
                digest_end.timestamp(),
            )


def scrape_registry(
    storage: Storage, scheduler_alive: Callable[[], bool] | None, metrics: Metrics | None
) -> CollectorRegistry:
    """Everything ``/metrics`` shows: the counters, the database's gauges, the process's
    memory and CPU. A process without jobs (None) has no counters and no scheduler gauge."""
    registry = CollectorRegistry()
    if metrics is not None:
        registry.register(metrics.registry)
    registry.register(_DatabaseCollector(storage, scheduler_alive))
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text exposition format."""
    return generate_latest(registry)


def _gauge(name: str, help: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help, value=value)
