"""Rule files -> RuleSet, with file:line errors people can act on.

Rules live in the ``*.toml`` files of one directory (names starting with "." are skipped), read
in sorted file-name order. The order decides the order in which reasons are listed and which
tags earlier rules have set (``has_tags``); the most severe outcome wins whatever the order,
unless a rule says ``overrides = true``. Every problem in every file is collected and raised at
once as one RulesError.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
)
from pydantic_core import PydanticCustomError

from monitor.config.hours import Days, HoursField, all_days, parse_days
from monitor.config.positions import (
    KeyPath,
    key_positions,
    line_of,
    parse_toml,
    validation_problems,
)
from monitor.duration import Duration
from monitor.errors import Problem, ProblemsError, RulesError
from monitor.mention import Severity
from monitor.triage.rules.model import Rule, RuleSet
from monitor.triage.rules.mute import Mute, load_mute
from monitor.triage.spikes import SpikeWatch

Positions = dict[KeyPath, tuple[int, int]]
REPLY_SUFFIX = ".txt.j2"  # a rule's reply = "outage" is replies/outage.txt.j2
_LISTS = (
    "brands",
    "any_words",
    "all_words",
    "none_words",
    "sources",
    "langs",
    "has_tags",
    "tags",
    "notify",
)
# Names that must match config.toml: rule key -> (what a person calls it, compare ignoring case)
_CONFIGURED = {
    "brands": ("brand", True),
    "sources": ("source", False),
    "notify": ("recipient group", False),
}


class _SpikeTable(BaseModel):
    """A rule's ``spike = { … }``: report a pile-on once instead of alerting on each mention."""

    model_config = ConfigDict(extra="forbid")

    window: Duration = timedelta(hours=1)
    baseline: Duration = timedelta(days=7)
    factor: float = Field(default=3.0, gt=1)
    min_count: int = Field(default=10, ge=1)
    measure: Literal["count", "negative_share"] = "count"


def _rule_days(value: object) -> Days | None:
    """``days = ["sat", "sun"]``: each entry a day or a range of days, as config shifts write them."""
    if not isinstance(value, list):
        raise PydanticCustomError("list_type", "Input should be a valid list")
    if not all(isinstance(entry, str) for entry in value):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    if any(not entry.strip() for entry in value):
        raise ValueError('has an empty entry ""; remove it')
    return all_days(parse_days(entry.strip()) for entry in value)


class _RuleTable(BaseModel):
    """One ``[[rule]]`` table as written; strict, so "0.5" in quotes is not quietly a number."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str
    description: str
    brands: list[str] = []
    any_words: list[str] = []
    all_words: list[str] = []
    none_words: list[str] = []
    sentiment_below: float | None = None
    sentiment_above: float | None = None
    sources: list[str] = []
    langs: list[str] = []
    min_followers: int | None = Field(default=None, ge=0)
    min_engagement: int | None = Field(default=None, ge=0)
    hours: HoursField | None = None
    days: Annotated[Days | None, PlainValidator(_rule_days)] = None
    has_tags: list[str] = []
    severity: Severity | None = Field(default=None, strict=False)
    overrides: bool = False
    tags: list[str] = []
    notify: list[str] = []
    suppress: bool = False
    reply: str | None = None
    spike: _SpikeTable | None = None

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator(*_LISTS, "days", mode="before")
    @classmethod
    def _bracketed(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError(f'write a list in square brackets, e.g. ["{value}"]')
        return value

    @field_validator(*_LISTS)
    @classmethod
    def _no_empty_entries(cls, value: list[str]) -> list[str]:
        if any(not entry.strip() for entry in value):
            raise ValueError('has an empty entry ""; remove it')
        return [entry.strip() for entry in value]

    @field_validator("sentiment_below", "sentiment_above")
    @classmethod
    def _in_vader_range(cls, value: float | None) -> float | None:
        if value is not None and not -1 <= value <= 1:
            raise ValueError(f"must be between -1 and 1 (the sentiment scale), not {value:g}")
        return value

    @field_validator("severity", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def load_rules(
    directory: Path,
    *,
    brands: Collection[str] | None = None,
    sources: Collection[str] | None = None,
    recipient_groups: Collection[str] | None = None,
    replies: Path | None = None,
    display_root: Path | None = None,
) -> RuleSet:
    """Load and check every rule file; raise RulesError listing every problem in every file.

    Names of brands, sources and recipient groups are checked only for the collections given;
    a rule's ``reply`` only when ``replies`` (the folder of reply templates) is.
    """
    known = {"brands": brands, "sources": sources, "notify": recipient_groups}
    loader = _Loader({key: names for key, names in known.items() if names is not None})
    if replies is not None:
        loader.replies = _Replies(
            f"{_shown(replies, display_root)}/",
            sorted(
                path.name.removesuffix(REPLY_SUFFIX) for path in replies.glob(f"*{REPLY_SUFFIX}")
            ),
        )
    files = _rule_files(directory, _shown(directory, display_root))
    shown_files = tuple(_shown(file, display_root) for file in files)
    for file, shown in zip(files, shown_files, strict=True):
        loader.load_file(file, shown)
    if loader.problems:
        raise RulesError(loader.problems)
    return RuleSet(tuple(loader.rules), shown_files, tuple(loader.mutes))


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(Path(os.path.abspath(path)).relative_to(os.path.abspath(root)))
        except ValueError:
            pass
    return str(path)


def _rule_files(directory: Path, shown: str) -> list[Path]:
    # Problem needs a line; 0 stands for "the path itself, not a line in it".
    if directory.is_file():
        if directory.suffix == ".toml":
            return [directory]
        raise RulesError([Problem(shown, 0, "is not a .toml rule file or a directory of them")])
    if not directory.is_dir():
        message = "rules directory does not exist; Harken will not run without rules"
        raise RulesError([Problem(shown, 0, message)])
    files = [p for p in directory.glob("*.toml") if p.is_file() and not p.name.startswith(".")]
    if not files:
        message = "holds no .toml rule files; Harken will not run without rules"
        raise RulesError([Problem(shown, 0, message)])
    return sorted(files, key=lambda p: p.name)


@dataclass(frozen=True)
class _Replies:
    """The reply templates a rule's ``reply`` may name: the folder as shown, and their names."""

    folder: str
    names: list[str]

    def problem(self, reply: object) -> str | None:
        if not isinstance(reply, str) or not reply.strip() or reply.strip() in self.names:
            return None
        message = f'reply "{reply}" names no template'
        if guess := difflib.get_close_matches(reply.strip(), self.names, n=1, cutoff=0.6):
            message += f' (did you mean "{guess[0]}"?)'
        if self.names:
            return f"{message}; {self.folder} has: {', '.join(self.names)}"
        return f"{message}; {self.folder} has none: add {self.folder}{reply.strip()}{REPLY_SUFFIX}"


class _Loader:
    """Reads rule files one by one, keeping the rules that pass and every problem found."""

    def __init__(self, known: dict[str, Collection[str]]) -> None:
        self.known = known
        self.replies: _Replies | None = None
        self.rules: list[Rule] = []
        self.mutes: list[Mute] = []
        self.problems: list[Problem] = []
        self.first_seen: dict[str, str] = {}  # rule name -> "path:line" of its first [[rule]]

    def load_file(self, path: Path, shown: str) -> None:
        problems: list[Problem] = []
        try:
            raw = path.read_bytes()
            text = raw.decode("utf-8-sig")  # Windows editors may add a byte-order mark
            data = parse_toml(text, shown)
        except OSError as error:
            problems.append(Problem(shown, 0, f"cannot read the file: {error.strerror}"))
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            problems.append(Problem(shown, line, "is not UTF-8 text; save it as UTF-8"))
        except ProblemsError as error:
            problems.extend(_in_rule_words(problem) for problem in error.problems)
        else:
            self._check_file(data, key_positions(text), shown, problems)
        self.problems.extend(sorted(problems, key=lambda p: (p.line, p.column or 0)))

    def _check_file(
        self, data: dict[str, object], positions: Positions, shown: str, problems: list[Problem]
    ) -> None:
        for key, value in data.items():
            if key == "mute":
                mute, found = load_mute(value, positions, shown)
                problems.extend(found)
                self.mutes.extend([mute] if mute else [])
            elif key != "rule":
                line, column = line_of(positions, (key,))
                problems.append(Problem(shown, line, _top_level(key, value), column))
        tables = data.get("rule", [])
        if "mute" in data and "rule" not in data:
            return  # a file may hold only a mute list
        if not data:
            problems.append(Problem(shown, 1, "has no rules; add a [[rule]] or delete the file"))
        elif not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            line, column = line_of(positions, ("rule",))
            message = "each rule starts with a [[rule]] line (two pairs of square brackets)"
            problems.append(Problem(shown, line, message, column))
        else:
            for index, table in enumerate(tables):
                self._check_rule(table, ("rule", index), positions, shown, problems)

    def _check_rule(
        self,
        table: dict[str, object],
        prefix: KeyPath,
        positions: Positions,
        shown: str,
        problems: list[Problem],
    ) -> None:
        header = line_of(positions, prefix)
        # This rule's keys as the model sees them; a missing key points at the [[rule]] line.
        local = {key[2:]: at for key, at in positions.items() if key[:2] == prefix}
        local.update({(key,): header for key in _RuleTable.model_fields if (key,) not in local})
        name = table.get("name")
        name = name.strip() if isinstance(name, str) else ""
        label = f'rule "{name}": ' if name else ""
        if name in self.first_seen:
            line, column = local[("name",)]
            first = self.first_seen[name]
            message = f"{label}the rule at {first} already has this name; names must be unique"
            problems.append(Problem(shown, line, message, column))
        elif name:
            self.first_seen[name] = f"{shown}:{header[0]}"
        found = _contradictions(table, self.known)
        if self.replies is not None and (missing := self.replies.problem(table.get("reply"))):
            found.append(("reply", missing))
        for key, message in found:
            line, column = local[(key,)]
            problems.append(Problem(shown, line, label + message, column))
        try:
            model = _RuleTable.model_validate(table)
        except ValidationError as error:
            for problem in validation_problems(error, _RuleTable, local, shown):
                problems.append(replace(problem, message=label + problem.message))
            return
        # The model's own values, not a dump: hours and days stay the parsed Hours and Days.
        values: dict[str, Any] = dict(model)
        values.update({key: tuple(values[key]) for key in _LISTS})
        values["spike"] = SpikeWatch(**model.spike.model_dump()) if model.spike else None
        self.rules.append(Rule(path=shown, line=header[0], **values))


def _in_rule_words(problem: Problem) -> Problem:
    """tomllib's words for a second ``[rule]`` table, as the fix a rule writer needs."""
    if "Cannot declare ('rule',) twice" in problem.message:
        message = (
            "TOML syntax: a second [rule] line: write [[rule]] (two pairs of square brackets) "
            "for each rule"
        )
        return replace(problem, message=message)
    return problem


def _top_level(key: str, value: object) -> str:
    if key in _RuleTable.model_fields:
        return f'key "{key}" is outside any rule; move it under a [[rule]] line'
    message = f'unknown {"table" if isinstance(value, dict | list) else "key"} "{key}"; rules go under [[rule]] lines'
    if guess := difflib.get_close_matches(key, ["rule", "mute"], n=1, cutoff=0.6):
        message += f' (did you mean "{guess[0]}"?)'
    return message


def _contradictions(
    table: dict[str, object], known: dict[str, Collection[str]]
) -> list[tuple[str, str]]:
    """(key, message) for what the schema cannot see: self-contradictions and unknown names.

    Reads the raw table, so these are reported even when the schema found other problems.
    """
    found = []
    below, above = table.get("sentiment_below"), table.get("sentiment_above")
    if _score(below) and _score(above) and below <= above:
        message = f"sentiment_below {below:g} is not above sentiment_above {above:g}, so the rule can never fire; did you swap them?"
        found.append(("sentiment_below", message))
    for key, names in known.items():
        noun, ignore_case = _CONFIGURED[key]
        fold = str.casefold if ignore_case else str
        by_folded = {fold(name): name for name in names}
        values = table.get(key)
        for value in values if isinstance(values, list) else []:
            if not isinstance(value, str) or not value.strip() or fold(value.strip()) in by_folded:
                continue
            message = f'unknown {noun} "{value}"'
            if guess := difflib.get_close_matches(fold(value.strip()), by_folded, n=1, cutoff=0.6):
                message += f' (did you mean "{by_folded[guess[0]]}"?)'
            elif names:
                message += f"; known {noun}s: {', '.join(sorted(names))}"
            else:
                message += f"; config.toml names no {noun}s"
            found.append((key, message))
    return found


def _score(value: object) -> TypeGuard[float]:
    """Whether ``value`` is a usable sentiment threshold (the schema reports any other)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and -1 <= value <= 1
