"""Reading config.toml: the file -> Config, with file:line:col for every problem found.

The models say what each key may hold; the checks here are the ones that span keys, such as a
recipient group named in one section and defined in another.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from pydantic import ValidationError

from monitor.config.positions import (
    KeyPath,
    key_positions,
    line_of,
    parse_toml,
    validation_problems,
)
from monitor.config.settings import Config, Settings
from monitor.config.storage_url import storage_url_problem
from monitor.errors import ConfigError, Problem, ProblemsError
from monitor.source import SourceSettings, kind_names, source_kind

DEFAULT_CONFIG = "config.toml"


def config_path(explicit: str | None) -> Path:
    """--config wins, then HARKEN_CONFIG, then ./config.toml."""
    return Path(explicit or os.environ.get("HARKEN_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path) -> Config:
    """Read and validate config.toml; raise ConfigError listing every problem with its line."""
    shown = str(path)
    try:
        # utf-8-sig: Windows editors like to start the file with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        hint = (
            f"\nHint: give the config file with --config FILE or HARKEN_CONFIG=FILE, or run "
            f"harken in the folder that holds {path.name} (looked for {path.absolute()})"
        )
        raise ConfigError(
            [Problem(shown, 0, f"cannot read the config file: {error.strerror}{hint}")]
        ) from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(shown, line, "the file is not UTF-8 text; save it as UTF-8")]
        ) from None
    try:
        raw = parse_toml(text, shown)
    except ProblemsError as error:
        raise ConfigError(error.problems) from None
    positions = key_positions(text)
    problems: list[Problem] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        problems += validation_problems(error, Settings, positions, shown)

    sources: dict[str, SourceSettings] = {}
    tables = raw.get("sources")
    for name, table in (tables if isinstance(tables, dict) else {}).items():
        if not isinstance(table, dict):
            continue  # already reported by the Settings model
        kind = source_kind(str(table.get("type", "")))
        if kind is None:
            line, column = line_of(positions, ("sources", name, "type"))
            known = ", ".join(kind_names()) or "none installed"
            if "type" in table:
                message = f'sources.{name}: unknown type "{table["type"]}"{_kind_hint(table["type"])}; installed kinds: {known}'

            else:
                message = f'missing required key "sources.{name}.type"; installed kinds: {known}'
            problems.append(Problem(shown, line, message, column))
            continue
        try:
            sources[name] = kind.Settings.model_validate(table)
        except ValidationError as error:
            problems += validation_problems(
                error, kind.Settings, positions, shown, ("sources", name)
            )

    if settings is not None:
        groups = set(settings.recipients)
        for key, field, named in (
            ("alerts", "notify", settings.alerts.notify),
            ("digest", "to", settings.digest.to),
            ("health", "notify", settings.health.notify),
        ):
            written = (key, field) in positions
            line, column = line_of(positions, (key, field)) if written else (0, 0)
            default = "" if written else f" (the default of {key}.{field})"
            problems += [
                Problem(
                    shown,
                    line,
                    f'{key}.{field}: unknown recipient group "{group}"{default}; define it under [recipients]',
                    column,
                )
                for group in named
                if group not in groups
            ]
        problems += _oncall_group_problems(settings, positions, shown)
        problems += _channel_group_problems(settings, positions, shown)
        problems += _digests_problems(settings, positions, shown)
        url_problem = storage_url_problem(settings.storage.url, path.name)
        if url_problem:
            line, column = line_of(positions, ("storage", "url"))
            problems.append(Problem(shown, line, url_problem, column))
    if problems or settings is None:
        raise ConfigError(sorted(problems, key=lambda problem: problem.line))
    return Config(settings, sources, path.resolve())


def _oncall_group_problems(
    settings: Settings, positions: dict[KeyPath, tuple[int, int]], shown: str
) -> list[Problem]:
    """Escalation levels name recipient groups; shift entries without an @ must be groups too."""
    groups = set(settings.recipients)
    named = [
        (("oncall", "levels", index, "notify"), group)
        for index, level in enumerate(settings.oncall.levels)
        for group in level.notify
    ] + [
        (("oncall", "shifts", index, "who"), who)
        for index, shift in enumerate(settings.oncall.shifts)
        for who in shift.who
        if "@" not in who
    ]
    problems = []
    for path, group in named:
        if group in groups:
            continue
        line, column = line_of(positions, path)
        key = f"oncall.{path[1]}[{path[2]}].{path[3]}"
        problems.append(
            Problem(
                shown,
                line,
                f'{key}: unknown recipient group "{group}"; define it under [recipients], or give an email address',
                column,
            )
        )
    return problems


def _channel_group_problems(
    settings: Settings, positions: dict[KeyPath, tuple[int, int]], shown: str
) -> list[Problem]:
    """Channels name the recipient groups whose alerts they carry; each must exist."""
    groups = set(settings.recipients)
    problems = []
    for name, channel in settings.channels.items():
        line, column = line_of(positions, ("channels", name, "notify"))
        problems += [
            Problem(
                shown,
                line,
                f'channels.{name}.notify: unknown recipient group "{group}"; define it under [recipients]',
                column,
            )
            for group in channel.notify
            if group not in groups
        ]
    return problems


def _digests_problems(
    settings: Settings, positions: dict[KeyPath, tuple[int, int]], shown: str
) -> list[Problem]:
    """Unknown groups in [[digests]] tables, and two tables that would share one watermark."""
    problems = []
    groups = set(settings.recipients)
    seen: dict[str, int] = {}
    for index, more in enumerate(settings.digests):
        line, column = line_of(positions, ("digests", index, "to"))
        problems += [
            Problem(
                shown,
                line,
                f'digests.{index}.to: unknown recipient group "{group}"; define it under [recipients]',
                column,
            )
            for group in more.to
            if group not in groups
        ]
        key = more.name or "+".join(more.to)
        if key == "default":
            line, column = line_of(positions, ("digests", index))
            problems.append(
                Problem(
                    shown,
                    line,
                    f'digests.{index}: "default" names the [digest] section; give this table a name = "…"',
                    column,
                )
            )
        if key in seen:
            line, column = line_of(positions, ("digests", index))
            problems.append(
                Problem(
                    shown,
                    line,
                    f'digests.{index}: another [[digests]] table (digests.{seen[key]}) is also called "{key}"; give each a different name = "…", so each keeps its own watermark',
                    column,
                )
            )
        seen.setdefault(key, index)
    return problems


# Names people know a platform by, or that older versions used, for the kind Harken calls it.
_KIND_ALIASES = {
    "twitter": "x",
    "tweets": "x",
    "hn": "hackernews",
    "hacker_news": "hackernews",
    "feed": "rss",
    "atom": "rss",
    "google_news": "rss",
    "bsky": "bluesky",
}


def _kind_hint(kind: object) -> str:
    """`` (did you mean "x"?)`` for an old name or a typo of an installed kind; "" for neither."""
    written = str(kind).strip().lower()
    guess = _KIND_ALIASES.get(written)
    if guess is None:
        close = difflib.get_close_matches(written, kind_names(), n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f' (did you mean "{guess}"?)' if guess and guess in kind_names() else ""
