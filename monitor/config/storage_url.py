"""The shape of [storage] url, checked with the config so no command meets it as a traceback.

Only storage/ imports SQLAlchemy; this reads the URL's text the way SQLAlchemy would and names
the fix for the typos people make: two slashes for SQLite, ``postgres://``, an unknown driver.
"""

from __future__ import annotations

import re

_EXAMPLES = '"sqlite:///harken.db" or "postgresql+psycopg://user@host/dbname"'
_SQLITE = ("sqlite", "sqlite+pysqlite")
_POSTGRESQL = ("postgresql", "postgresql+psycopg")


def hide_password(url: str) -> str:
    """The URL fit for a message: a password between ``user:`` and ``@`` becomes ``***``."""
    return re.sub(r"^([^:/]*://[^:/@]*):[^@/]*@", r"\1:***@", url)


def storage_url_problem(url: str, config_name: str) -> str | None:
    """What is wrong with the URL's shape and how to write it, or None if it looks right."""
    shown = f'storage.url "{hide_password(url)}"'
    scheme, separator, rest = url.partition("://")
    if not separator:
        return f"{shown} is not a database URL; write {_EXAMPLES}"
    scheme = scheme.lower()
    if scheme in _SQLITE:
        if rest == "" or rest.startswith("/"):
            return None  # sqlite:// is an in-memory database; sqlite:///x a file
        return (
            f'{shown} names no database file; write "{scheme}:///{rest}" (three slashes) '
            f"for a file beside {config_name}, or four slashes for an absolute path"
        )
    if scheme in ("sqlite3", "file"):
        return f'{shown}: write "sqlite:///{rest.lstrip("/")}" for an SQLite file'
    if scheme.partition("+")[0] in ("postgres", "postgresql", "psql", "pg"):
        if scheme in _POSTGRESQL:
            return None
        written = hide_password(f"postgresql+psycopg://{rest}")
        if scheme.partition("+")[0] != "postgresql":
            return f'{shown}: the scheme is "postgresql", not "{scheme}"; write "{written}"'
        return (
            f"{shown}: Harken talks to PostgreSQL through psycopg (version 3), not the "
            f'"{scheme.partition("+")[2]}" driver; write "{written}"'
        )
    return f'{shown}: Harken stores in SQLite or PostgreSQL, not "{scheme}"; write {_EXAMPLES}'
