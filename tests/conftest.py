"""Shared fixtures: real local servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.fetch import Fetcher
from tests.servers import HttpServer, SmtpServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first, so pytest-xdist starts them at once beside the rest rather than
    leaving a one-minute test to run alone at the end; otherwise the order is unchanged."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    """A fetcher with short limits, so timeout and size tests run fast."""
    client = Fetcher(timeout=0.5, max_bytes=1_000_000)
    yield client
    client.close()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


# PostgreSQL: a throwaway database per test session on the server named by
# HARKEN_TEST_POSTGRESQL_URL. Unreachable means skip, except in CI (CI=true), where it fails.
POSTGRESQL_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped when the session ends."""
    import os
    import secrets

    import sqlalchemy
    from sqlalchemy.pool import NullPool

    server = sqlalchemy.make_url(
        os.environ.get("HARKEN_TEST_POSTGRESQL_URL", POSTGRESQL_URL_DEFAULT)
    )
    if server.drivername == "postgresql":
        server = server.set(drivername="postgresql+psycopg")
    admin = sqlalchemy.create_engine(
        server,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    name = f"harken_test_{secrets.token_hex(6)}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        reason = (
            f"PostgreSQL at {server.render_as_string(hide_password=True)} is unreachable "
            f"({str(error.orig).strip().splitlines()[0]}); start it or set HARKEN_TEST_POSTGRESQL_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test twice: on a SQLite file, and on an emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'harken.db'}"
    return str(request.getfixturevalue("empty_postgresql_url"))


@pytest.fixture
def empty_postgresql_url(postgresql_url: str) -> str:
    """The session's PostgreSQL database, emptied of every table before the test."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    engine = sqlalchemy.create_engine(postgresql_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()
    return postgresql_url
