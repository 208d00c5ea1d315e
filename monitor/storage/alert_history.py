"""A mention alert's life in SQL: open -> acknowledged -> resolved, its escalations, its events.

Every change is a compare-and-set on the alert's row inside its transaction, so two Harken
processes (or a link and the command line) cannot both acknowledge, nor escalate one alert
twice to the same level. ``record`` adds an event inside another part's transaction (a poll
raising an alert, the outbox notifying).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.mention import Severity
from monitor.storage.base import StorageBase
from monitor.storage.models import (
    ACKNOWLEDGED,
    ESCALATED,
    ESCALATION_ALERT,
    MENTION_ALERT,
    OPEN,
    PENDING,
    RESOLVED,
    AlertEventRow,
    AlertRow,
    MentionRow,
    VerdictRow,
)
from monitor.storage.records import AlertChange, AlertEvent, AlertStatus, OpenAlert

HARKEN = "harken"  # who made a change Harken made itself
_FROM = {ACKNOWLEDGED: (OPEN,), RESOLVED: (OPEN, ACKNOWLEDGED)}


def record(
    session: Session,
    alert_id: int,
    action: str,
    at: datetime,
    *,
    who: str = HARKEN,
    via: str = HARKEN,
    level: int | None = None,
    note: str | None = None,
) -> None:
    """Add one event to the alert's history."""
    session.execute(
        insert(AlertEventRow).values(
            alert_id=alert_id, action=action, at=at, who=who, via=via, level=level, note=note
        )
    )


class AlertHistoryStore(StorageBase):
    """Mention alerts' states, escalations and events: what people answered, and when."""

    def open_urgent_alerts(self) -> list[OpenAlert]:
        """Urgent mention alerts nobody has acknowledged yet, oldest first."""
        query = (
            select(AlertRow.id, AlertRow.created_at, AlertRow.level)
            .join(VerdictRow, VerdictRow.mention_id == AlertRow.mention_id)
            .where(
                AlertRow.state == OPEN,
                AlertRow.kind == MENTION_ALERT,
                VerdictRow.severity == Severity.URGENT.value,
            )
            .order_by(AlertRow.created_at, AlertRow.id)
        )
        with self._transaction("read open alerts") as session:
            return [
                OpenAlert(id=id_, created_at=at, level=level)
                for id_, at, level in session.execute(query)
            ]

    def escalate_alert(
        self,
        alert_id: int,
        from_level: int,
        levels: Sequence[tuple[int, Sequence[str]]],
        now: datetime,
    ) -> bool:
        """Queue a delivery to each (level, groups) and record it, if the alert is still open
        at ``from_level``; False if it was acknowledged or escalated meanwhile."""
        with self._transaction(f"escalate alert {alert_id}") as session:
            if not levels:
                return False
            moved = session.execute(
                update(AlertRow)
                .where(
                    AlertRow.id == alert_id, AlertRow.state == OPEN, AlertRow.level == from_level
                )
                .values(level=levels[-1][0]),
                execution_options={"synchronize_session": False},
            )
            if moved.rowcount == 0:  # type: ignore[attr-defined]
                return False  # acknowledged meanwhile, or another process escalated it first
            mention_id = session.scalar(select(AlertRow.mention_id).where(AlertRow.id == alert_id))
            for level, groups in levels:
                session.execute(
                    insert(AlertRow).values(
                        kind=ESCALATION_ALERT,
                        mention_id=mention_id,
                        parent_id=alert_id,
                        groups=list(groups),
                        status=PENDING,
                        attempts=0,
                        created_at=now,
                        next_attempt_at=now,
                        level=level,
                    )
                )
                record(session, alert_id, ESCALATED, now, level=level, note=", ".join(groups))
        return True

    def acknowledge_alert(
        self, alert_id: int, now: datetime, *, who: str, via: str
    ) -> AlertChange | None:
        """Acknowledge an open alert; None if there is no mention alert ``alert_id``."""
        with self._transaction(f"acknowledge alert {alert_id}") as session:
            return _change(session, alert_id, ACKNOWLEDGED, now, who=who, via=via)

    def resolve_alert(
        self, alert_id: int, now: datetime, *, who: str, via: str, note: str
    ) -> AlertChange | None:
        """Resolve an open or acknowledged alert; None if there is no mention alert ``alert_id``."""
        with self._transaction(f"resolve alert {alert_id}") as session:
            return _change(session, alert_id, RESOLVED, now, who=who, via=via, note=note)

    def alert_status(self, alert_id: int) -> AlertStatus | None:
        """Where one mention alert stands; None if there is no such alert."""
        with self._transaction(f"read alert {alert_id}") as session:
            found = _statuses(session, [alert_id])
        return found[0] if found else None

    def alert_statuses(self, *, include_resolved: bool = False) -> list[AlertStatus]:
        """Mention alerts not resolved yet (or all of them), oldest first."""
        with self._transaction("read alerts") as session:
            return _statuses(session, include_resolved=include_resolved)

    def mention_alert_statuses(self, start: datetime, end: datetime) -> dict[int, AlertStatus]:
        """The status of the first alert of each mention stored in [start, end) that raised one,
        by the mention's id."""
        query = (
            select(AlertRow.id, AlertRow.mention_id)
            .join(MentionRow, MentionRow.id == AlertRow.mention_id)
            .where(
                MentionRow.stored_at >= start,
                MentionRow.stored_at < end,
                AlertRow.kind == MENTION_ALERT,
                AlertRow.state.is_not(None),
            )
        )
        with self._transaction("read the alerts of a period's mentions") as session:
            mention_of = {
                alert_id: mention_id
                for alert_id, mention_id in session.execute(query)
                if mention_id is not None
            }
            found = _statuses(session, list(mention_of)) if mention_of else []
        statuses: dict[int, AlertStatus] = {}
        for status in found:  # oldest first: a mention's first alert wins
            statuses.setdefault(mention_of[status.id], status)
        return statuses

    def alert_mention(self, alert_id: int) -> int | None:
        """The id of the mention a mention alert is about; None if there is no such alert."""
        query = select(AlertRow.mention_id).where(
            AlertRow.id == alert_id, AlertRow.kind == MENTION_ALERT
        )
        with self._read(f"read the mention of alert {alert_id}") as session:
            return session.scalar(query)

    def alert_events(self, alert_id: int) -> list[AlertEvent]:
        """The alert's history: raised, notified, escalated, acknowledged, resolved."""
        query = (
            select(AlertEventRow)
            .where(AlertEventRow.alert_id == alert_id)
            .order_by(AlertEventRow.at, AlertEventRow.id)
        )
        with self._transaction(f"read the history of alert {alert_id}") as session:
            return [
                AlertEvent(
                    alert_id=row.alert_id,
                    action=row.action,
                    at=row.at,
                    who=row.who,
                    via=row.via,
                    level=row.level,
                    note=row.note,
                )
                for row in session.scalars(query)
            ]


def _change(
    session: Session,
    alert_id: int,
    to_state: str,
    now: datetime,
    *,
    who: str,
    via: str,
    note: str | None = None,
) -> AlertChange | None:
    """Move the alert to ``to_state`` if its state allows; None if there is no such alert."""
    row = session.scalars(
        select(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.state.is_not(None))
        .with_for_update()
    ).one_or_none()
    if row is None:
        return None
    changed = row.state in _FROM[to_state]
    if changed:
        row.state = to_state
        session.flush()
        record(session, alert_id, to_state, now, who=who, via=via, level=row.level, note=note)
    found = _statuses(session, [alert_id])
    return AlertChange(changed=changed, status=found[0])


def _statuses(
    session: Session, ids: Sequence[int] | None = None, *, include_resolved: bool = True
) -> list[AlertStatus]:
    """The statuses of the given mention alerts (or of all), oldest first."""
    query = (
        select(AlertRow, MentionRow, VerdictRow)
        .join(MentionRow, MentionRow.id == AlertRow.mention_id)
        .join(VerdictRow, VerdictRow.mention_id == MentionRow.id)
        .where(AlertRow.state.is_not(None))
        .order_by(AlertRow.created_at, AlertRow.id)
    )
    if ids is not None:
        query = query.where(AlertRow.id.in_(ids))
    if not include_resolved:
        query = query.where(AlertRow.state != RESOLVED)
    found = session.execute(query).all()
    answers = _answers(session, [alert.id for alert, _, _ in found])
    return [
        _status(alert, mention, verdict, answers.get(alert.id, {}))
        for alert, mention, verdict in found
    ]


def _answers(session: Session, ids: list[int]) -> dict[int, dict[str, AlertEventRow]]:
    """The first acknowledgement and resolution of each alert."""
    if not ids:
        return {}
    query = (
        select(AlertEventRow)
        .where(AlertEventRow.alert_id.in_(ids), AlertEventRow.action.in_(tuple(_FROM)))
        .order_by(AlertEventRow.at, AlertEventRow.id)
    )
    found: dict[int, dict[str, AlertEventRow]] = {}
    for row in session.scalars(query):
        found.setdefault(row.alert_id, {}).setdefault(row.action, row)
    return found


def _status(
    alert: AlertRow, mention: MentionRow, verdict: VerdictRow, answers: dict[str, AlertEventRow]
) -> AlertStatus:
    acknowledged, resolved = answers.get(ACKNOWLEDGED), answers.get(RESOLVED)
    return AlertStatus(
        id=alert.id,
        created_at=alert.created_at,
        severity=verdict.severity,
        source=mention.source,
        title=mention.title or mention.text,
        state=alert.state or OPEN,
        level=alert.level,
        acknowledged_by=acknowledged.who if acknowledged else None,
        acknowledged_at=acknowledged.at if acknowledged else None,
        resolved_by=resolved.who if resolved else None,
        resolved_at=resolved.at if resolved else None,
        resolution=resolved.note if resolved else None,
    )
