"""Labels: people's corrections of Harken's verdicts ("not about us", "sentiment is wrong",
"severity should be …"), each kept with who, when and what the verdict said at the time.

Labels are only ever added. The newest label of a kind on a mention is its current one; the
older ones stay as history, and the export hands out both (with ``current`` saying which).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, func, select

from monitor.mention import Severity
from monitor.storage.base import StorageBase
from monitor.storage.models import LabelRow, MentionRow, VerdictRow

RELEVANCE, SENTIMENT, SEVERITY = "relevance", "sentiment", "severity"
OURS, NOT_OURS = "ours", "not_ours"
# Every kind with the values a label of it may hold: the web's forms and the export say these.
KINDS: dict[str, tuple[str, ...]] = {
    RELEVANCE: (NOT_OURS, OURS),
    SENTIMENT: ("negative", "neutral", "positive"),
    SEVERITY: tuple(severity.value for severity in Severity),
}
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class Label:
    """One correction as stored."""

    id: int
    mention_id: int
    kind: str  # relevance | sentiment | severity
    value: str  # what the person says
    harken_value: str  # what the verdict said when they said it
    who: str
    at: datetime
    note: str | None = None

    @property
    def agrees(self) -> bool:
        """Whether the person agreed with Harken."""
        return self.value == self.harken_value


@dataclass(frozen=True)
class LabelledMention:
    """A label with the mention it is about: a line of `harken labels export`.

    Its fields, in order, are the export's columns (README, "Corrections"): a contract.
    """

    mention_id: int
    text: str
    title: str
    source: str
    author: str
    kind: str
    value: str
    harken_value: str
    by: str
    at: datetime
    note: str | None
    current: bool  # False once a newer label of its kind on its mention superseded it


def check_label(kind: str, value: str) -> None:
    """ValueError unless ``value`` is one a label of ``kind`` may hold."""
    if kind not in KINDS:
        raise ValueError(f"label kind {kind!r} is not one of {', '.join(KINDS)}")
    if value not in KINDS[kind]:
        raise ValueError(f"a {kind} label is one of {', '.join(KINDS[kind])}, not {value!r}")


def current_value(kind: str) -> ScalarSelect[Any]:
    """The value of a mention's current label of ``kind`` (NULL without one), as a subquery
    correlated with ``mentions``: what MentionQuery's ``relevance`` filter compares."""
    return (
        select(LabelRow.value)
        .where(LabelRow.mention_id == MentionRow.id, LabelRow.kind == kind)
        .order_by(LabelRow.id.desc())
        .limit(1)
        .correlate(MentionRow)
        .scalar_subquery()
    )


def _latest() -> Any:
    # Ids only ever grow, so the newest label of a kind on a mention is the one with the
    # highest id, even if two were made within the same clock tick.
    return select(func.max(LabelRow.id)).group_by(LabelRow.mention_id, LabelRow.kind)


def _label(row: LabelRow) -> Label:
    return Label(
        id=row.id,
        mention_id=row.mention_id,
        kind=row.kind,
        value=row.value,
        harken_value=row.harken_value,
        who=row.who,
        at=row.at,
        note=row.note,
    )


def _harken_value(kind: str, verdict: VerdictRow) -> str:
    if kind == RELEVANCE:
        return OURS if verdict.matched else NOT_OURS
    return verdict.label if kind == SENTIMENT else verdict.severity


class LabelStore(StorageBase):
    """Adding labels and reading them: a mention's, the current ones, every one for export."""

    def add_label(
        self,
        mention_id: int,
        kind: str,
        value: str,
        *,
        who: str,
        now: datetime,
        note: str | None = None,
    ) -> Label | None:
        """Record ``who``'s label on a mention, with the verdict's own value beside it; None if
        there is no such mention (or it has no verdict to correct)."""
        check_label(kind, value)
        with self._transaction(f"label mention {mention_id}") as session:
            verdict = session.get(VerdictRow, mention_id)
            if verdict is None:
                return None
            row = LabelRow(
                mention_id=mention_id,
                kind=kind,
                value=value,
                harken_value=_harken_value(kind, verdict),
                who=who,
                at=now,
                note=note or None,
            )
            session.add(row)
            session.flush()
            return _label(row)

    def labels(self, mention_id: int) -> list[Label]:
        """Every label on a mention, oldest first (the last of each kind is current)."""
        statement = select(LabelRow).where(LabelRow.mention_id == mention_id)
        with self._read(f"read the labels of mention {mention_id}") as session:
            return [_label(row) for row in session.scalars(statement.order_by(LabelRow.id))]

    def not_ours_among(self, mention_ids: Sequence[int]) -> set[int]:
        """Which of these mentions people currently say are not about us."""
        if not mention_ids:
            return set()
        statement = select(LabelRow.mention_id, LabelRow.value).where(
            LabelRow.id.in_(_latest().where(LabelRow.mention_id.in_(mention_ids))),
            LabelRow.kind == RELEVANCE,
        )
        with self._read("read which mentions are not ours") as session:
            return {mention for mention, value in session.execute(statement) if value == NOT_OURS}

    def current_labels(self, since: datetime | None = None) -> list[Label]:
        """The current label of each kind on each mention, made since ``since``, oldest first:
        what agreement is counted on (a person's last word, not each change of mind)."""
        statement = select(LabelRow).where(LabelRow.id.in_(_latest()))
        if since is not None:
            statement = statement.where(LabelRow.at >= since)
        with self._read("read the current labels") as session:
            return [_label(row) for row in session.scalars(statement.order_by(LabelRow.id))]

    def count_labels(self, since: datetime | None = None) -> int:
        """How many labels were made since ``since``, superseded ones included."""
        statement = select(func.count(LabelRow.id))
        if since is not None:
            statement = statement.where(LabelRow.at >= since)
        with self._read("count the labels") as session:
            return int(session.scalar(statement) or 0)

    def each_label(self, since: datetime | None = None) -> Iterator[LabelledMention]:
        """Every label made since ``since`` with its mention, oldest first, a batch at a time."""
        current = LabelRow.id.in_(_latest())
        statement = (
            select(
                LabelRow.mention_id,
                MentionRow.text,
                MentionRow.title,
                MentionRow.source,
                MentionRow.author,
                LabelRow.kind,
                LabelRow.value,
                LabelRow.harken_value,
                LabelRow.who,
                LabelRow.at,
                LabelRow.note,
                current,
            )
            .join(MentionRow, MentionRow.id == LabelRow.mention_id)
            .order_by(LabelRow.id)
        )
        if since is not None:
            statement = statement.where(LabelRow.at >= since)
        with self._read("export the labels") as session:
            rows = session.execute(statement, execution_options={"yield_per": EXPORT_BATCH})
            for (
                mention,
                text,
                title,
                source,
                author,
                kind,
                value,
                harken,
                who,
                at,
                note,
                is_current,
            ) in rows:
                yield LabelledMention(
                    mention_id=mention,
                    text=text,
                    title=title,
                    source=source,
                    author=author,
                    kind=kind,
                    value=value,
                    harken_value=harken,
                    by=who,
                    at=at,
                    note=note,
                    current=bool(is_current),
                )
