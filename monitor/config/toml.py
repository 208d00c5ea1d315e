"""Settings written back as TOML: enough of the format for what a validated config holds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def to_toml(table: Mapping[str, Any]) -> str:
    """``table`` (strings, numbers, booleans, lists, nested tables) as a TOML document."""
    return "\n".join(_table(table, ())) + "\n"


def _table(table: Mapping[str, Any], path: tuple[str, ...]) -> list[str]:
    lines = [f"{_key(key)} = {_value(value)}" for key, value in table.items() if _is_value(value)]
    for key, value in table.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_dotted((*path, key))}]", *_table(value, (*path, key))]
        elif _is_list_of_tables(value):
            for item in value:
                lines += ["", f"[[{_dotted((*path, key))}]]", *_table(item, (*path, key))]
    return lines


def _is_list_of_tables(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _is_value(value: Any) -> bool:
    return value is not None and not isinstance(value, Mapping) and not _is_list_of_tables(value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    # A JSON string is a TOML basic string, but for "/", which JSON may leave unescaped anyway.
    return json.dumps(str(value), ensure_ascii=False)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(_key(key) for key in path)
