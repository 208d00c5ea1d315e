"""Finding stored mentions: filters of a ``MentionQuery`` to SQL, and full-text search in the
database's own index (SQLite FTS5, PostgreSQL text search; see migration 0007).

The search syntax is the same on both: plain words must all appear, "quoted phrases" must
appear as written. Nothing else is an operator, so what a person types is searched for and
never reaches FTS5's query grammar (where ``NEAR(`` or a stray quote is a syntax error).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.orm import aliased

from monitor.errors import SearchError
from monitor.storage.base import StorageBase
from monitor.storage.labels import RELEVANCE, current_value
from monitor.storage.models import (
    MENTION_ALERT,
    SEARCH_DOCUMENT,
    SEARCH_TABLE,
    AlertRow,
    MentionRow,
    VerdictRow,
)
from monitor.storage.records import FoundMention

NO_ALERT = "none"  # the state of a mention that raised no alert
EXPORT_BATCH = 1000  # rows fetched at a time while streaming: memory stays flat

_Alert = aliased(AlertRow, name="mention_alert")
_TOKEN = re.compile(r'"([^"]*)"|([^\s"]+)|(")')


@dataclass(frozen=True)
class MentionQuery:
    """Which stored mentions: every filter given must hold; several values of one filter mean
    any of them. Periods are on when Harken stored the mention; ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    brands: tuple[str, ...] = ()  # any case
    severities: tuple[str, ...] = ()
    sentiments: tuple[str, ...] = ()  # negative | neutral | positive
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # any case
    authors: tuple[str, ...] = ()  # any case, whole name
    states: tuple[str, ...] = ()  # of its alert: open | acknowledged | resolved | none
    relevance: tuple[str, ...] = ()  # as people currently label it: not_ours | ours
    text: str = ""  # words and "quoted phrases", all of them in the title, text or author
    # Keyset paging: only mentions stored before this one. Newest first is id order (see
    # _select), so the next page starts below the last id shown, as fast at a million rows as
    # on the first page, where OFFSET would read and skip every row before it.
    before_id: int | None = None


@dataclass(frozen=True)
class SearchTerms:
    """A search as read: the words and the phrases that must all appear."""

    words: tuple[str, ...]
    phrases: tuple[str, ...]


def parse_search(search: str) -> SearchTerms:
    """Read words and "quoted phrases"; a SearchError says what is wrong and where."""
    words: list[str] = []
    phrases: list[str] = []
    for match in _TOKEN.finditer(search):
        if match.group(3) is not None:
            raise SearchError(
                f"search {search!r}: the quote at column {match.start() + 1} is never closed; "
                'close it ("exact phrase") or leave quotes out'
            )
        phrase, word = match.group(1), match.group(2)
        # Punctuation alone is no word in either index: it would match nothing (or, in FTS5, be
        # an empty phrase), so it is dropped rather than silently emptying the results.
        if phrase is not None and _has_word(phrase):
            phrases.append(" ".join(phrase.split()))
        elif word is not None and _has_word(word):
            words.append(word)
    if not words and not phrases:
        raise SearchError(f"search {search!r}: give at least one word to look for")
    return SearchTerms(tuple(words), tuple(phrases))


def _has_word(text_: str) -> bool:
    return any(char.isalnum() for char in text_)


def fts5_expression(terms: SearchTerms) -> str:
    """The terms as an FTS5 query of quoted strings only, which FTS5 reads as plain text."""
    quoted = [f'"{term}"' for term in (*terms.words, *terms.phrases)]  # no term holds a quote
    return " AND ".join(quoted)


class SearchStore(StorageBase):
    """Stored mentions by filters and full-text search: lists, one mention, streamed exports."""

    def find_mentions(self, query: MentionQuery, limit: int) -> list[FoundMention]:
        """The newest ``limit`` mentions ``query`` selects, newest first."""
        statement, order = self._select(query)
        statement = statement.order_by(order.desc())
        with self._read("search the stored mentions") as session:
            return [_found(row) for row in session.execute(statement.limit(limit))]

    def count_mentions(self, query: MentionQuery) -> int:
        """How many mentions ``query`` selects."""
        statement = select(func.count()).select_from(self._select(query)[0].subquery())
        with self._read("count the stored mentions") as session:
            return int(session.scalar(statement) or 0)

    def each_mention(self, query: MentionQuery) -> Iterator[FoundMention]:
        """Every mention ``query`` selects, oldest first, read a batch at a time (a server-side
        cursor on PostgreSQL) so an export of millions holds only one batch in memory."""
        statement, order = self._select(query)
        statement = statement.order_by(order)
        with self._read("export the stored mentions") as session:
            rows = session.execute(statement, execution_options={"yield_per": EXPORT_BATCH})
            for row in rows:
                yield _found(row)

    def mention(self, mention_id: int) -> FoundMention | None:
        """One stored mention with its verdict and alert state; None if there is none."""
        statement = self._select(MentionQuery())[0].where(MentionRow.id == mention_id)
        with self._read(f"read mention {mention_id}") as session:
            row = session.execute(statement).first()
        return _found(row) if row is not None else None

    def mention_alert_ids(self, mention_id: int) -> list[int]:
        """The mention alerts raised about a stored mention, oldest first."""
        statement = (
            select(AlertRow.id)
            .where(
                AlertRow.mention_id == mention_id,
                AlertRow.kind == MENTION_ALERT,
                AlertRow.state.is_not(None),
            )
            .order_by(AlertRow.id)
        )
        with self._read(f"read the alerts of mention {mention_id}") as session:
            return list(session.scalars(statement))

    def _select(self, query: MentionQuery) -> tuple[Select[Any], ColumnElement[Any]]:
        """The statement, and the column that orders it oldest to newest.

        Newest first is the order Harken stored them in: the id, which the insert hands out as
        it stores, so stored_at and id agree. Ordering by the id lets SQLite walk the FTS5 index
        backwards and stop at the limit: a word found in half a million mentions still answers
        as soon as the newest 50 are read, where sorting by stored_at would read them all.
        """
        postgresql = self._engine.dialect.name == "postgresql"
        terms = parse_search(query.text) if query.text else None
        statement = select(*_COLUMNS)
        order: ColumnElement[Any] = MentionRow.id.expression
        if terms is not None and not postgresql:
            index = table(SEARCH_TABLE, column("rowid"))
            match = text(f"{SEARCH_TABLE} MATCH :search").bindparams(search=fts5_expression(terms))
            statement = (
                statement.select_from(index)
                .join(MentionRow, MentionRow.id == index.c.rowid)
                .where(match)
            )
            order = index.c.rowid
        statement = statement.join(VerdictRow, VerdictRow.mention_id == MentionRow.id).outerjoin(
            # One mention raises at most one mention alert (stories.save_verdict).
            _Alert,
            and_(
                _Alert.mention_id == MentionRow.id,
                _Alert.kind == MENTION_ALERT,
                _Alert.state.is_not(None),
            ),
        )
        conditions = _conditions(query, postgresql)
        if terms is not None and postgresql:
            conditions.append(_postgresql_match(terms))
        return statement.where(*conditions), order


def _conditions(query: MentionQuery, postgresql: bool) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.since is not None:
        conditions.append(MentionRow.stored_at >= query.since)
    if query.until is not None:
        conditions.append(MentionRow.stored_at < query.until)
    if query.before_id is not None:
        conditions.append(MentionRow.id < query.before_id)
    if query.severities:
        conditions.append(VerdictRow.severity.in_(query.severities))
    if query.sentiments:
        conditions.append(VerdictRow.label.in_(query.sentiments))
    if query.sources:
        conditions.append(MentionRow.source.in_(query.sources))
    if query.authors:
        conditions.append(func.lower(MentionRow.author).in_(_lower(query.authors)))
    if query.brands:
        conditions.append(_any_element(VerdictRow.brands, query.brands, postgresql))
    if query.tags:
        conditions.append(_any_element(VerdictRow.tags, query.tags, postgresql))
    if query.relevance:
        conditions.append(current_value(RELEVANCE).in_(query.relevance))
    if query.states:
        named = [state for state in query.states if state != NO_ALERT]
        either = [_Alert.state.in_(named)] if named else []
        if NO_ALERT in query.states:
            either.append(_Alert.id.is_(None))
        conditions.append(or_(*either))
    return conditions


def _lower(values: Sequence[str]) -> list[str]:
    return [value.lower() for value in values]


def _any_element(array: Any, wanted: Sequence[str], postgresql: bool) -> ColumnElement[bool]:
    """The JSON array column holds one of ``wanted``, in any case."""
    elements = (func.json_array_elements_text if postgresql else func.json_each)(array)
    element = elements.table_valued("value").alias()
    return exists().select_from(element).where(func.lower(element.c.value).in_(_lower(wanted)))


def _postgresql_match(terms: SearchTerms) -> ColumnElement[bool]:
    # plainto_ and phraseto_tsquery read their argument as text, never as query syntax.
    parts: list[ColumnElement[Any]] = []
    if terms.words:
        words = bindparam("search_words", " ".join(terms.words), type_=String())
        parts.append(func.plainto_tsquery(literal_column("'simple'"), words))
    for number, phrase in enumerate(terms.phrases):
        said = bindparam(f"search_phrase_{number}", phrase, type_=String())
        parts.append(func.phraseto_tsquery(literal_column("'simple'"), said))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.op("&&")(part)
    # The index's own expression, verbatim, so PostgreSQL uses the GIN index.
    return literal_column(SEARCH_DOCUMENT).op("@@")(combined)


def _raw(column: Any, name: str) -> Any:
    """The column as the driver hands it over, unparsed by SQLAlchemy (see ``_found``)."""
    return type_coerce(column, String()).label(name)


# Exports read millions of rows: SQLAlchemy's per-row JSON (stdlib json) and SQLite datetime
# (a regex) parsing were most of an export's time, so those columns come raw and _found parses
# them with orjson and datetime.fromisoformat, both in C. PostgreSQL's driver parses JSON and
# times itself; _found takes those as they come.
_COLUMNS = (
    MentionRow.id,
    _raw(MentionRow.stored_at, "stored_at"),
    _raw(MentionRow.published, "published"),
    MentionRow.source,
    MentionRow.item_id,
    MentionRow.url,
    MentionRow.canonical_url,
    MentionRow.title,
    MentionRow.text,
    MentionRow.author,
    MentionRow.lang,
    MentionRow.thread_id,
    MentionRow.parent_id,
    _raw(MentionRow.metrics, "metrics"),
    _raw(VerdictRow.brands, "brands"),
    VerdictRow.severity,
    VerdictRow.label,
    VerdictRow.compound,
    VerdictRow.sentence,
    _raw(VerdictRow.rules, "rules"),
    _raw(VerdictRow.tags, "tags"),
    _raw(VerdictRow.notify, "notify"),
    _raw(VerdictRow.reasons, "reasons"),
    VerdictRow.reply,
    _Alert.state,
)


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # PostgreSQL's driver parsed it already
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:  # NaN and the like, which json.dumps writes and orjson refuses
        return json.loads(value)


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    # SQLite holds aware UTC times naive (models.UtcDateTime).
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _found(row: Any) -> FoundMention:
    # One unpacking of the whole row: attribute access by name costs more per row than all
    # the parsing below.
    (
        id_,
        stored_at,
        published,
        source,
        item_id,
        url,
        canonical_url,
        title,
        text_,
        author,
        lang,
        thread_id,
        parent_id,
        metrics,
        brands,
        severity,
        label,
        compound,
        sentence,
        rules,
        tags,
        notify,
        reasons,
        reply,
        state,
    ) = row
    return FoundMention(
        id=id_,
        stored_at=_moment(stored_at) or _never(),
        published=_moment(published),
        source=source,
        item_id=item_id,
        url=url,
        canonical_url=canonical_url,
        title=title,
        text=text_,
        author=author,
        lang=lang,
        thread_id=thread_id,
        parent_id=parent_id,
        metrics=dict(_json(metrics)),
        brands=list(_json(brands)),
        severity=severity,
        sentiment=label,
        compound=compound,
        sentence=sentence,
        rules=list(_json(rules)),
        tags=list(_json(tags)),
        notify=list(_json(notify)),
        reasons=list(_json(reasons)),
        reply=reply,
        state=state or NO_ALERT,
    )


def _never() -> datetime:
    raise AssertionError("mentions.stored_at is NOT NULL")
