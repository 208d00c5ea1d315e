"""Opening a database: engine settings per backend, migrations, and errors made plain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Dialect, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from monitor.errors import DatabaseUnavailable, StorageError

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
POSTGRESQL_CONNECT_TIMEOUT_SECONDS = 10
# Any constant works; it only has to be the same for every Harken process.
_MIGRATION_LOCK_KEY = 0x4A61726B656E  # "Harken"
_URL_HINT = "expected sqlite:///path/to/harken.db or postgresql+psycopg://user@host/dbname"


def parse_url(url: str) -> URL:
    """Parse and check a database URL; plain ``postgresql://`` means the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError:
        # The text may hold a password, so it is not repeated back.
        raise StorageError(f"invalid database URL: {_URL_HINT}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StorageError(
            f"unsupported database {render_url(parsed)}: Harken supports SQLite and PostgreSQL; "
            f"{_URL_HINT}"
        )
    return parsed


def render_url(url: URL) -> str:
    """The URL fit for a message or a log: never the password."""
    return url.render_as_string(hide_password=True)


def create(url: URL) -> Engine:
    """An engine for the URL, with SQLite set up for several processes sharing one file."""
    if url.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = POSTGRESQL_CONNECT_TIMEOUT_SECONDS
        try:
            return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
        except ImportError:
            raise StorageError(
                f"cannot use {render_url(url)}: the PostgreSQL driver is missing; "
                "install it with: pip install 'harken[postgresql]'"
            ) from None
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling skips BEGIN for DDL and SELECT; take it over
    # (see _begin_sqlite) so that migrations and read-then-write steps are atomic.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


READ_ONLY = "harken_read_only"  # an execution option: this transaction only reads


def _begin_sqlite(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front, waiting up to the busy timeout; a deferred
    # transaction that reads first would fail outright ("database is locked") if another
    # process wrote in between.
    # Pure reads (cursor and health before each poll) take no lock: in WAL mode they see the
    # last committed state without waiting for, or holding up, a writer.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def insert(dialect: Dialect, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows the backend's ON CONFLICT clauses."""
    if dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration; a database already there is left untouched."""
    config = Config()
    # Config values go through configparser, which treats % specially.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with translate_errors(engine, "open the database"), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Two processes starting on a fresh database must not both create the tables.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def translate_errors(engine: Engine, doing: str) -> Iterator[None]:
    """Turn the database library's errors into a StorageError that says what failed where."""
    where = render_url(engine.url)
    try:
        yield
    except exc.DBAPIError as error:
        # The driver's own message, without SQLAlchemy's statement and parameters.
        lines = str(error.orig).strip().splitlines()
        reason = lines[0] if lines else type(error.orig).__name__
        # OperationalError is the driver saying "not now": a lock held too long, a server
        # down or restarting, a dropped connection. The rest are refusals that retrying repeats.
        transient = isinstance(error, exc.OperationalError | exc.InterfaceError)
        kind = DatabaseUnavailable if transient else StorageError
        raise kind(f"{where}: could not {doing}: {reason}") from error
    except exc.TimeoutError as error:  # every pooled connection busy for too long
        raise DatabaseUnavailable(f"{where}: could not {doing}: {error}") from error
    except exc.StatementError as error:
        # A value our own column types refused (e.g. a naive datetime): a bug, not the database.
        if isinstance(error.orig, Exception):
            raise error.orig from None
        raise
    except exc.SQLAlchemyError as error:
        raise StorageError(f"{where}: could not {doing}: {error}") from error
    except CommandError as error:
        hint = ""
        if "Can't locate revision" in str(error):
            hint = " (the database was upgraded by a newer Harken; run that version or newer)"
        raise StorageError(f"{where}: could not {doing}: {error}{hint}") from error
