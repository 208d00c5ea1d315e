"""The secrets a config names: what logs must never show."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from pydantic import BaseModel

from monitor.config.settings import Config
from monitor.placeholders import variables

# Shorter values would be found inside ordinary words; a secret that short guards nothing anyway.
MIN_SECRET_LENGTH = 4


def secret_values(config: Config, environ: Mapping[str, str] = os.environ) -> set[str]:
    """The values of every environment variable the config names as holding a secret.

    That is every setting named ``*_env`` (SMTP password, link secret, each source's tokens)
    and every ``{VARIABLE}`` in a channel URL or a source's settings (an rss feed's headers).
    """
    names = set(_env_names(config.settings))
    for source in config.sources.values():
        names.update(_env_names(source))
        names.update(source.secret_variables())
    for channel in config.settings.channels.values():
        names.update(variables(channel.url))
    values = (environ.get(name, "").strip() for name in names)
    return {value for value in values if len(value) >= MIN_SECRET_LENGTH}


def _env_names(model: BaseModel) -> Iterator[str]:
    for field, value in model:
        if field.endswith("_env") and isinstance(value, str) and value:
            yield value
        elif isinstance(value, BaseModel):
            yield from _env_names(value)
        elif isinstance(value, dict | list | tuple):
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if isinstance(item, BaseModel):
                    yield from _env_names(item)
