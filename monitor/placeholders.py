"""``{VARIABLE}`` in a config value, filled from the environment: how secrets stay out of config.

One mechanism for every place a secret is needed: channel URLs (``slack://{SLACK_TOKEN}``) and a
feed's request headers (``Authorization = "Bearer {FEED_TOKEN}"``). Config files name the
variable; only the process environment holds the value, and the redactor is told every value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def variables(template: str) -> list[str]:
    """The names of the ``{VARIABLE}``s in ``template``, in order, repeats included."""
    return _PLACEHOLDER.findall(template)


def unset_variables(template: str, environ: Mapping[str, str]) -> list[str]:
    """The variables ``template`` names that are unset or empty, sorted, each once."""
    return sorted({name for name in variables(template) if not environ.get(name)})


def fill(template: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """``template`` with every ``{VARIABLE}`` replaced by its value, and the values used.

    Call ``unset_variables`` first: a variable missing here raises KeyError.
    """
    used: list[str] = []

    def value(match: re.Match[str]) -> str:
        found = environ[match.group(1)]
        used.append(found)
        return found

    return _PLACEHOLDER.sub(value, template), used
