"""One poll of one source, stage by stage: poll -> triage -> store (with the outbox) -> health."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from monitor.errors import HarkenError, SourceError
from monitor.mention import Severity, Verdict
from monitor.source import Source
from monitor.storage import Storage
from monitor.triage import Triage

log = logging.getLogger("harken.poll")


@dataclass(frozen=True)
class PollSummary:
    """What one poll of one source did, for the summary table and the logs."""

    source: str
    fetched: int = 0  # items the source returned
    new: int = 0  # items not seen in an earlier poll
    matched: int = 0  # new items that name a brand
    stored: int = 0  # matched items stored for the first time
    urgent: int = 0  # stored items that are urgent
    error: str | None = None


def poll_source(
    source: Source,
    storage: Storage,
    triage: Triage,
    now: Callable[[], datetime],
) -> PollSummary:
    """Poll one source and store what is new. Never raises: a failure is the summary's error."""
    try:
        poll = source.poll(storage.cursor(source.name))
        verdicts = [triage(mention) for mention in poll.mentions]
        fresh = storage.save_poll(source.name, poll, verdicts, now(), alert_if=needs_alert)
    except SourceError as error:
        return _failed(source.name, storage, now, str(error))
    except HarkenError as error:  # storage trouble: the cursor did not move, so nothing is lost
        return _failed(source.name, storage, now, str(error))
    except Exception as error:  # a bug in one plugin must not stop the others
        log.exception("source %s: unexpected error", source.name, extra={"source": source.name})
        return _failed(source.name, storage, now, f"unexpected {type(error).__name__}: {error}")
    _record(source.name, storage, now, None)
    return PollSummary(
        source=source.name,
        fetched=poll.fetched,
        new=len(poll.mentions),
        matched=sum(verdict.matched for verdict in verdicts),
        stored=len(fresh),
        urgent=sum(verdict.severity is Severity.URGENT for verdict in fresh),
    )


def needs_alert(verdict: Verdict) -> bool:
    """Triage names who must hear (a rule's groups, or the on-call groups for urgent ones)."""
    return verdict.matched and bool(verdict.notify) and verdict.severity is not Severity.IGNORE


def _failed(name: str, storage: Storage, now: Callable[[], datetime], error: str) -> PollSummary:
    _record(name, storage, now, error)
    return PollSummary(source=name, error=error)


def _record(name: str, storage: Storage, now: Callable[[], datetime], error: str | None) -> None:
    """Store the outcome; say so once when a source starts failing and once when it recovers."""
    try:
        health = storage.record_source_result(name, now(), error)
    except HarkenError as storage_error:
        log.error(
            "source %s: could not record its health: %s",
            name,
            storage_error,
            extra={"source": name},
        )
        return
    if health.started_failing:
        log.warning("source %s stopped hearing: %s", name, error, extra={"source": name})
    elif health.recovered:
        log.warning("source %s is hearing again", name, extra={"source": name})
