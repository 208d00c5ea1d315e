"""Mute: authors and phrases comms marked as noise, from ``[mute]`` tables in rule files.

A muted mention is still stored with its verdict (and so counted, backtested and searchable),
tagged ``muted``, but alerts nobody: the same effect as a rule with ``suppress = true``, written
as a list a comms person keeps without writing a rule for each name.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.config.positions import KeyPath, line_of, validation_problems
from monitor.errors import Problem
from monitor.mention import Mention
from monitor.triage.rules.phrases import phrase_key

MUTED_TAG = "muted"


def author_key(author: str) -> str:
    """``@Name``, ``name`` and ``NAME`` are one author."""
    return author.strip().removeprefix("@").casefold()


@dataclass(frozen=True)
class Mute:
    """One ``[mute]`` table: whose mentions, and which phrases, alert nobody (until a date)."""

    path: str
    line: int
    authors: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    until: date | None = None  # mentions published after this day are heard again
    _authors: dict[str, str] = field(init=False, repr=False, compare=False)
    _phrases: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_authors", {author_key(a): a for a in self.authors})
        object.__setattr__(self, "_phrases", {phrase_key(p): p for p in self.phrases})

    def muted_by(self, mention: Mention, present: Collection[str]) -> str | None:
        """Why this table mutes the mention, or None.

        ``present`` holds the phrase keys found in it (``RuleSet.phrases_in``), as for rules.
        """
        published = mention.published
        if self.until is not None and published is not None and published.date() > self.until:
            return None
        where = f"{self.path}:{self.line}"
        if mention.author and (name := self._authors.get(author_key(mention.author))):
            return f"muted: author {name} ({where})"
        for key, phrase in self._phrases.items():
            if key in present:
                return f'muted: mentions "{phrase}" ({where})'
        return None


class _MuteTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    authors: list[str] = Field(default_factory=list)
    phrases: list[str] = Field(default_factory=list)
    until: date | None = None

    @field_validator("authors", "phrases")
    @classmethod
    def _no_blank(cls, values: list[str]) -> list[str]:
        if any(not value.strip().removeprefix("@") for value in values):
            raise ValueError("an entry is empty")
        return values


def load_mute(
    table: object, positions: dict[KeyPath, tuple[int, int]], shown: str
) -> tuple[Mute | None, list[Problem]]:
    """The ``[mute]`` table of one rule file, or every problem in it with file:line:column."""
    header = line_of(positions, ("mute",))
    if not isinstance(table, dict):
        message = "mute is a table: write [mute] on a line of its own, then authors = [...]"
        return None, [Problem(shown, header[0], message, header[1])]
    local = {key[1:]: at for key, at in positions.items() if key[:1] == ("mute",) and key[1:]}
    local.update({(key,): header for key in _MuteTable.model_fields if (key,) not in local})
    problems = []
    for key in table:
        if key not in _MuteTable.model_fields:
            line, column = local.get((key,), header)
            message = f'mute: unknown key "{key}"'
            if guess := difflib.get_close_matches(key, list(_MuteTable.model_fields), n=1):
                message += f' (did you mean "{guess[0]}"?)'
            problems.append(Problem(shown, line, message, column))
    known = {key: value for key, value in table.items() if key in _MuteTable.model_fields}
    try:
        model = _MuteTable.model_validate(known)
    except ValidationError as error:
        found = validation_problems(error, _MuteTable, local, shown)
        problems += [Problem(p.path, p.line, f"mute: {p.message}", p.column) for p in found]
    if problems:
        return None, problems
    mute = Mute(shown, header[0], tuple(model.authors), tuple(model.phrases), model.until)
    return mute, []
