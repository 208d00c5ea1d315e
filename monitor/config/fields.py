"""Value types config keys share, each checked once at load: a timezone, a brand query."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

from monitor.config.query import Query, parse_query


def _timezone(value: object) -> object:
    if not isinstance(value, str):
        return value  # the str type reports it
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown timezone "{value}"; use an IANA name such as "Europe/London" or "UTC"'
        ) from None
    return value


Timezone = Annotated[str, BeforeValidator(_timezone)]


def _query(value: object) -> Query:
    if isinstance(value, Query):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a valid string")
    # A QueryError is a ValueError: reported at the key's line, with its column and caret.
    return Query(value, parse_query(value))


BrandQuery = Annotated[Query, PlainValidator(_query), PlainSerializer(str)]
