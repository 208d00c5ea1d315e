"""Values every source checks the same way: http(s) addresses in settings, numbers in payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, TypeGuard

from pydantic import AfterValidator


def http_url(url: str) -> str:
    """``url`` without a trailing slash; ValueError unless it is an http(s) address."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f'"{url}" is not an http(s) URL')
    return url.rstrip("/")


# A settings field holding an API's address, checked and tidied as the config is read.
HttpUrl = Annotated[str, AfterValidator(http_url)]


def is_int(value: object) -> TypeGuard[int]:
    """An integer from JSON: true for 3, false for True (which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or float from JSON, booleans excepted."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def numbers(counts: Mapping[str, object]) -> dict[str, int | float]:
    """The entries of ``counts`` that are numbers; a missing or odd-typed count is left out."""
    return {name: value for name, value in counts.items() if is_number(value)}
