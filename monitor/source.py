"""The Source interface every plugin implements, and how plugins are found.

A source kind is a class registered in the ``harken.sources`` entry-point group; Harken's own
kinds register the same way a third-party package would. A source is built from its
``[sources.NAME]`` table, validated by the kind's ``Settings`` model, and may decline to start
by raising ``NotConfigured`` (for example when its credentials are missing).
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from monitor.duration import Duration
from monitor.mention import Cursor, Poll

if TYPE_CHECKING:  # httpx costs a tenth of a second to import; `harken triage` never fetches
    from monitor.fetch import Fetcher

ENTRY_POINT_GROUP = "harken.sources"

log = logging.getLogger("harken.sources")


class SourceSettings(BaseModel):
    """Keys every source table has; kinds subclass this to add their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    every: Duration = Field(default=timedelta(minutes=5), description="how often to poll")
    enabled: bool = True
    silent_after: Duration | None = Field(
        default=None, description="alert when nothing new was stored for this long"
    )

    def secret_variables(self) -> list[str]:
        """Environment variables named by ``{VARIABLE}`` in this source's settings.

        Their values are secrets the logs must never show. Settings named ``*_env`` are found
        without this; a kind that fills ``{VARIABLE}``s (rss headers) lists them here.
        """
        return []


T = TypeVar("T")


class Offload(Protocol):
    """Runs CPU-heavy, pure work (parsing a feed) where it will not hold up other polls."""

    def __call__(self, function: Callable[..., T], /, *args: Any) -> T: ...


def run_here(function: Callable[..., T], /, *args: Any) -> T:
    """Offload nowhere: run in the calling thread (one-shot commands, tests)."""
    return function(*args)


@dataclass(frozen=True)
class SourceContext:
    """What Harken hands every source besides its own settings."""

    fetcher: Fetcher  # shared HTTP client with Harken's timeouts and size cap
    terms: tuple[str, ...] = ()  # every brand's terms: what a searching source searches for
    exclude: tuple[str, ...] = ()  # phrases that are not the brand, for platforms that can exclude
    # Lower-cased words such that every item naming a brand contains one of them, in any case
    # (re.IGNORECASE), as a substring: a source may skip reading an item that contains none.
    # None when no such promise holds (a query Harken cannot reduce, or the config turns it off).
    needles: frozenset[str] | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Where to parse: the daemon hands a process pool here so a cold cycle uses every core.
    # The function and its arguments and result must pickle: module-level, plain data.
    offload: Offload = run_here


class Source(abc.ABC):
    """A place Harken listens to. ``poll`` returns what is new since ``cursor``.

    Raise ``NotConfigured`` from ``__init__`` to decline (missing credentials); raise the
    ``SourceError`` that fits from ``poll``: ``AccessDenied``, ``SourceGone``, ``RateLimited``,
    ``FetchError`` or ``BadPayload``. Harken backs off, stops or alerts accordingly.
    """

    Settings: ClassVar[type[SourceSettings]] = SourceSettings

    def __init__(self, name: str, settings: SourceSettings, context: SourceContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context
        self.fetcher = context.fetcher

    @abc.abstractmethod
    def poll(self, cursor: Cursor) -> Poll:
        """Fetch what is new since ``cursor``; raise ``SourceError`` on failure."""

    def probe(self) -> Poll:
        """Reach the platform once, as ``harken doctor`` and ``harken sources test`` do.

        The default polls from scratch; a kind whose poll holds a connection open for a while
        (a stream) overrides this to listen only briefly. Raise what ``poll`` raises.
        """
        return self.poll({})

    def describe(self, cursor: Cursor) -> str:
        """A short note for ``harken sources list``: the mode it runs in, budget left…"""
        return ""


def kind_names() -> list[str]:
    """The config words of every installed source kind, without importing any of them."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


@cache
def source_kind(name: str) -> type[Source] | None:
    """The installed source kind called ``name``, imported on first use; None if there is none.

    Only the kinds a config uses are imported, so a command that needs no platform library
    (``harken triage``) does not pay for loading them all.
    """
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            loaded = entry.load()
        except Exception as error:  # one broken plugin must not take Harken down with it
            log.error("source kind %s (%s) cannot be loaded: %s", entry.name, entry.value, error)
            return None
        if isinstance(loaded, type) and issubclass(loaded, Source):
            return loaded
        log.error("source kind %s (%s) is not a Source subclass", entry.name, entry.value)
    return None


def source_kinds() -> dict[str, type[Source]]:
    """Every installed source kind that loads, by its config word (``rss``)."""
    return {name: kind for name in kind_names() if (kind := source_kind(name)) is not None}
