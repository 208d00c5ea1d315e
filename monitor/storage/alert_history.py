"""A mention alert's life in SQL: open -> acknowledged -> resolved, its escalations, its events.

Every change is a compare-and-set on the alert's row inside the caller's transaction, so two
Harken processes (or a link and the command line) cannot both acknowledge, nor escalate one
alert twice to the same level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from monitor.mention import Severity
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


def open_urgent(session: Session) -> list[OpenAlert]:
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
    return [
        OpenAlert(id=id_, created_at=at, level=level) for id_, at, level in session.execute(query)
    ]


def escalate(
    session: Session,
    alert_id: int,
    from_level: int,
    levels: Sequence[tuple[int, Sequence[str]]],
    now: datetime,
) -> bool:
    """Queue one delivery per (level, groups) if the alert is still open at ``from_level``."""
    if not levels:
        return False
    moved = session.execute(
        update(AlertRow)
        .where(AlertRow.id == alert_id, AlertRow.state == OPEN, AlertRow.level == from_level)
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


def change(
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
    found = statuses(session, [alert_id])
    return AlertChange(changed=changed, status=found[0])


def statuses(
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


def events(session: Session, alert_id: int) -> list[AlertEvent]:
    """The alert's history, oldest first."""
    query = (
        select(AlertEventRow)
        .where(AlertEventRow.alert_id == alert_id)
        .order_by(AlertEventRow.at, AlertEventRow.id)
    )
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
