"""``harken triage``'s JSON Lines: mentions in, verdicts out, in order, on every core."""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.pool import AsyncResult
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitor.mention import Mention, Verdict
from monitor.workers import exit_with_parent


class MentionLine(BaseModel):
    """One input line. Unknown fields are ignored so exports from other tools can be piped in."""

    # NaN and infinity are not numbers a metric can have; JSON has no way to write them either.
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    id: str | int
    text: str
    source: str = "stdin"
    title: str = ""
    url: str = ""
    author: str = ""
    published: datetime | None = None
    lang: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)


def read_mention(line: str) -> Mention:
    """Parse one JSON line into a Mention; raise ValueError saying what is wrong."""
    try:
        data = MentionLine.model_validate_json(line)
    except ValidationError as error:
        raise ValueError("; ".join(_describe(detail) for detail in error.errors())) from None
    try:
        published = _in_utc(data.published)
    except OverflowError:
        # "9999-12-31T23:59:59-23:59" is a valid date whose UTC time is past year 9999.
        written = data.published.isoformat() if data.published else ""
        raise ValueError(f'field "published": {written} is out of range in UTC') from None
    try:
        mention_id = str(data.id)
    except ValueError:  # an integer too long to write out (Python caps it at 4,300 digits)
        raise ValueError('field "id": the number is too long; send ids as strings') from None
    return Mention(
        source=data.source,
        id=mention_id,
        text=data.text,
        title=data.title,
        url=data.url,
        author=data.author,
        published=published,
        lang=data.lang,
        metrics=data.metrics,
    )


def _in_utc(published: datetime | None) -> datetime | None:
    if published is None:
        return None
    return published.replace(tzinfo=UTC) if published.tzinfo is None else published.astimezone(UTC)


def decoded(line: str | bytes, number: int) -> str:
    """A raw input line as text; the UTF-8 byte order mark some editors write first is dropped.

    Raises ValueError naming the first byte that is not UTF-8.
    """
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"not valid UTF-8 (byte 0x{line[error.start]:02x} at column {error.start + 1})"
            ) from None
    return line.removeprefix("\ufeff") if number == 1 else line


def _describe(detail: Any) -> str:
    where = ".".join(str(part) for part in detail["loc"])
    if detail["type"] == "json_invalid":
        return f"not valid JSON ({detail['ctx'].get('error', 'parse error')})"
    if detail["type"] == "missing":
        return f'missing required field "{where}"'
    return f'field "{where}": {detail["msg"]}' if where else str(detail["msg"])


def verdict_line(verdict: Verdict) -> str:
    """One output line for a verdict."""
    line = {
        "id": verdict.mention.id,
        "matched": verdict.matched,
        "brands": list(verdict.brands),
        "sentiment": {
            "compound": verdict.sentiment.compound,
            "label": verdict.sentiment.label,
            "sentence": verdict.sentiment.sentence,
        },
        "severity": verdict.severity.value,
        "rules": list(verdict.rules),
        "tags": list(verdict.tags),
        "reasons": list(verdict.reasons),
    }
    # orjson writes a line in a third of json's time, which shows beside VADER's. It refuses
    # lone surrogates, which read_mention has already refused.
    return orjson.dumps(line).decode()


@dataclass(frozen=True)
class LineResult:
    """The outcome of one input line: a verdict line, or what was wrong with it."""

    number: int
    verdict: str | None
    problem: str | None = None


_CHUNK = 200  # lines per task: large enough to hide the hand-off, small enough to stream
_engine: Callable[[Mention], Verdict] | None = None  # what forked workers inherit


def _triage_chunk(chunk: list[tuple[int, str | bytes]]) -> list[LineResult]:
    assert _engine is not None
    results = []
    for number, line in chunk:
        try:
            mention = read_mention(decoded(line, number))
        except ValueError as problem:
            results.append(LineResult(number, None, str(problem)))
            continue
        results.append(LineResult(number, verdict_line(_engine(mention))))
    return results


def triage_lines(
    lines: Iterable[str | bytes], engine: Callable[[Mention], Verdict], jobs: int = 1
) -> Iterator[LineResult]:
    """Triage JSON lines in input order, spread over ``jobs`` processes for large inputs.

    Workers are forked after ``engine`` is built, so they share its rules and lexicon without
    loading them again; at most a few chunks per worker are in flight, so memory stays flat
    however long the input is.
    """
    global _engine
    _engine = engine
    numbered = ((number, line) for number, line in enumerate(lines, start=1) if line.strip())
    chunks = iter(lambda: list(itertools.islice(numbered, _CHUNK)), [])
    first = next(chunks, None)
    if first is None:
        return
    if jobs <= 1 or len(first) < _CHUNK or "fork" not in multiprocessing.get_all_start_methods():
        yield from _triage_chunk(first)
        for chunk in chunks:
            yield from _triage_chunk(chunk)
        return
    # A worker may be a minute into a chunk of long posts when harken is killed: it must not
    # finish it for nobody.
    context = multiprocessing.get_context("fork")
    with context.Pool(jobs, initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        pending: collections.deque[AsyncResult[list[LineResult]]] = collections.deque()
        pending.append(pool.apply_async(_triage_chunk, (first,)))
        for chunk in chunks:
            pending.append(pool.apply_async(_triage_chunk, (chunk,)))
            if len(pending) >= 3 * jobs:
                yield from pending.popleft().get()
        while pending:
            yield from pending.popleft().get()
