"""Harken's errors. Library exceptions are translated into these at the edge.

HarkenError                 anything Harken reports to a person
├── ProblemsError           a file people edit has problems; carries every Problem found
│   ├── ConfigError         config.toml is missing, unreadable or invalid
│   └── RulesError          a rule file is invalid
├── QueryError              a brand query cannot be read; also a ValueError, for pydantic
├── SearchError             a full-text search cannot be read (an unclosed quote, no words)
├── SourceError             one source failed one poll; the others go on
│   ├── NotConfigured       a source declines to start (e.g. missing credentials)
│   ├── AccessDenied        the platform refused our credentials (401/403)
│   ├── SourceGone          the platform says the endpoint is gone for good (410)
│   ├── BadPayload          the response was not in the documented shape
│   └── FetchError          the HTTP fetch failed (timeout, status, size cap)
│       └── RateLimited     the platform asked us to wait
├── StorageError            the database refused an operation
│   └── DatabaseUnavailable locked or unreachable for now; retrying will do
└── DeliveryError           an alert or digest could not be handed to a channel
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class HarkenError(Exception):
    """Base of every error Harken reports to a person."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file people edit, with where it is."""

    path: str
    line: int  # 0 when the problem is the file or folder as a whole
    message: str
    column: int | None = None

    def __str__(self) -> str:
        if self.line <= 0:
            return f"{self.path}: {self.message}"
        where = f"{self.path}:{self.line}"
        if self.column is not None:
            where += f":{self.column}"
        return f"{where}: {self.message}"


class ProblemsError(HarkenError):
    """An edited file has problems; all of them are listed, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(ProblemsError):
    """config.toml is missing, unreadable or invalid."""


class RulesError(ProblemsError):
    """One or more rule files are invalid."""


class QueryError(HarkenError, ValueError):
    """A query that cannot be read, with the place in it and a caret under that place.

    A ValueError too: config validation reports it at the query key's line like any bad value.
    """

    def __init__(self, query: str, position: int, reason: str) -> None:
        line_start = query.rfind("\n", 0, position) + 1
        line_end = query.find("\n", position)
        shown = query[line_start : line_end if line_end >= 0 else len(query)]
        self.reason = reason
        self.line = query.count("\n", 0, position) + 1
        self.column = position - line_start + 1
        where = (
            f"line {self.line}, column {self.column}" if "\n" in query else f"column {self.column}"
        )
        pad = "".join(c if c == "\t" else " " for c in shown[: self.column - 1])
        super().__init__(f"{where}: {reason}\n    {shown}\n    {pad}^")


class SearchError(HarkenError):
    """A full-text search of stored mentions that cannot be read: an unclosed quote, no words."""


class SourceError(HarkenError):
    """A source failed one poll. Its message says what and where, for the poll summary."""


class NotConfigured(SourceError):
    """A source declines to start, e.g. because its credentials are not in the environment."""


class AccessDenied(SourceError):
    """The platform refused our credentials (401/403). Retrying would only hammer it."""


class SourceGone(SourceError):
    """The platform says this endpoint is gone for good (410)."""


class BadPayload(SourceError):
    """The response was not in the documented shape (malformed JSON, missing fields)."""


class FetchError(SourceError):
    """A fetch failed in a way that may pass: timeout, connection, 5xx, oversize body."""


class RateLimited(FetchError):
    """The platform asked us to wait; ``retry_after`` is how long, in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageError(HarkenError):
    """The database refused an operation or could not be reached."""


class DatabaseUnavailable(StorageError):
    """The database is locked by another process or unreachable: the same step may work later."""


class DeliveryError(HarkenError):
    """An alert or digest could not be handed to its channel (SMTP down, refused).

    ``delivered`` names the destinations of the same alert that did take it, if any.
    """

    def __init__(self, message: str, delivered: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.delivered = tuple(delivered)
