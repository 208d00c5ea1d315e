"""The Source interface every plugin implements, and how plugins are found.

A source kind is a class registered in the ``harken.sources`` entry-point group; Harken's own
kinds register the same way a third-party package would. A source is built from its
``[sources.NAME]`` table, validated by the kind's ``Settings`` model, and may decline to start
by raising ``NotConfigured`` (for example when its credentials are missing).
"""

from __future__ import annotations

import abc
from datetime import timedelta
from functools import cache
from importlib.metadata import entry_points
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from monitor.duration import Duration
from monitor.fetch import Fetcher
from monitor.mention import Cursor, Poll

ENTRY_POINT_GROUP = "harken.sources"


class SourceSettings(BaseModel):
    """Keys every source table has; kinds subclass this to add their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    every: Duration = Field(default=timedelta(minutes=5), description="how often to poll")
    enabled: bool = True


class Source(abc.ABC):
    """A place Harken listens to. ``poll`` returns what is new since ``cursor``."""

    Settings: ClassVar[type[SourceSettings]] = SourceSettings

    def __init__(self, name: str, settings: SourceSettings, fetcher: Fetcher) -> None:
        self.name = name
        self.settings = settings
        self.fetcher = fetcher

    @abc.abstractmethod
    def poll(self, cursor: Cursor) -> Poll:
        """Fetch what is new since ``cursor``; raise ``SourceError`` on failure."""


@cache
def source_kinds() -> dict[str, type[Source]]:
    """Every installed source kind by its config word (``rss``), loaded from entry points."""
    kinds: dict[str, type[Source]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        if isinstance(loaded, type) and issubclass(loaded, Source):
            kinds[entry.name] = loaded
    return kinds
