"""The database locked or unreachable for a while: the daemon waits, loses nothing, alerts once."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx
import pytest
import sqlalchemy
from sqlalchemy.pool import NullPool

from monitor.config.settings import Brand
from monitor.daemon.poll import poll_source
from monitor.fetch import Fetcher
from monitor.storage import Storage
from monitor.triage.rules.files import load_rules
from monitor.triage.verdict import Triage
from tests.harness import REPO, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer, free_port
from tests.test_source_hackernews import HOUR, NOW, NOW_I, hackernews_source, serve, story

# What the issue describes: the database away for about a minute. SQLite's busy timeout is 30 s,
# so this is long enough for writes to wait, time out, and wait again while the lock is held.
SQLITE_LOCK_SECONDS = 60
# PostgreSQL away for as long: a refused connection fails at once, so over a minute every poll
# and delivery fails and is retried several times (pipeline.DATABASE_RETRY) before all recover.
POSTGRESQL_OUTAGE_SECONDS = 60

BEFORE = [("calm-0", "Acme ships v2", "Acme shipped version two.")]
DURING = [
    ("calm-1", "Acme opens an office", "Acme opened an office in Leeds."),
    ("down-1", "Acme Cloud is down", "Acme Cloud is down again, terrible outage."),
    ("calm-2", "Acme hires", "Acme hired ten engineers."),
    ("calm-3", "Acme at a fair", "Acme showed its new app at a trade fair."),
]
URGENT_ID = "down-1"


@dataclass
class Daemon:
    """``harken run`` as a user starts it, its log written to a file (a pipe could fill up)."""

    harness: Harness
    log_path: Path
    health_url: str
    process: subprocess.Popen[str] | None = None
    _log: TextIO | None = None

    def start(self) -> None:
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(self.harness.config), "run"],
            cwd=self.harness.folder,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def stop(self) -> int:
        assert self.process is not None
        assert self._log is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def health(self) -> dict[str, object] | None:
        """The /healthz report, with the HTTP status under "http"; None while it does not answer."""
        try:
            reply = httpx.get(self.health_url, timeout=5)
        except httpx.HTTPError:
            return None
        return {"http": reply.status_code, **json.loads(reply.text)}

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(encoding="utf-8").splitlines()


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:.0f} s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def daemon(tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer) -> Iterator[Daemon]:
    http_server.routes["/news.xml"] = Reply(rss_feed(*BEFORE))
    harness = Harness(tmp_path)
    port = free_port()
    harness.write_config(
        {"news": http_server.url("/news.xml")},
        smtp_server.port,
        extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\nsecret_env = "HARKEN_TEST_NO_SUCH_SECRET"\n',
    )
    running = Daemon(harness, tmp_path / "harken.log", f"http://127.0.0.1:{port}/healthz")
    yield running
    if running.process is not None and running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def stored_items(url: str) -> Counter[str]:
    """How many times each item id is stored, read straight from the database."""
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT item_id FROM mentions").all()
    except sqlalchemy.exc.DBAPIError:
        return Counter()  # the daemon has not created the table yet
    finally:
        engine.dispose()
    return Counter(str(row[0]) for row in rows)


def alerts_about(smtp_server: SmtpServer, item_id: str) -> list[str]:
    """The Message-IDs of the alert emails about one item."""
    found = []
    for message in list(smtp_server.inbox):
        body = message.get_body(("plain",))
        if body is not None and f"/{item_id}" in body.get_content():
            found.append(str(message["Message-ID"]))
    return found


def outage_scenario(
    daemon: Daemon,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    database_url: str,
    cut: Callable[[], object],
    restore: Callable[[], object],
    outage_seconds: float,
) -> None:
    """Start the daemon, cut the database while new items arrive, restore it, check the result."""
    daemon.start()
    wait_for(lambda: stored_items(database_url) == Counter(["calm-0"]), 60, "the first poll")

    cut()
    cut_at = time.monotonic()
    http_server.routes["/news.xml"] = Reply(rss_feed(*BEFORE, *DURING))
    wait_for(
        lambda: (daemon.health() or {}).get("http") == 503,
        outage_seconds,
        "/healthz to say the database is down",
    )
    report = daemon.health()
    assert report is not None
    assert report["status"] == "unavailable"
    database = report["database"]
    assert isinstance(database, dict)
    assert database["reachable"] is False
    assert database["failing_since"]
    metrics = httpx.get(daemon.health_url.replace("/healthz", "/metrics"), timeout=5)
    assert "harken_database_up 0" in metrics.text
    assert daemon.process is not None
    assert daemon.process.poll() is None, "the daemon must run on"
    assert stored_items(database_url) == Counter(["calm-0"])
    assert alerts_about(smtp_server, URGENT_ID) == []
    time.sleep(max(0.0, outage_seconds - (time.monotonic() - cut_at)))
    restore()

    everything = Counter(guid for guid, _, _ in BEFORE + DURING)
    wait_for(lambda: stored_items(database_url) == everything, 120, "every item to be stored")
    wait_for(lambda: bool(alerts_about(smtp_server, URGENT_ID)), 60, "the urgent alert")
    wait_for(lambda: (daemon.health() or {}).get("http") == 200, 60, "/healthz to recover")
    # A few more polls and outbox passes: nothing may be stored or sent a second time.
    polls = len(http_server.requests)
    wait_for(lambda: len(http_server.requests) >= polls + 3, 60, "three more polls")
    assert daemon.stop() == 0

    assert stored_items(database_url) == everything
    assert len(alerts_about(smtp_server, URGENT_ID)) == 1
    lines = daemon.log_lines()
    assert sum("database unavailable" in line for line in lines) == 1, "\n".join(lines)
    assert sum("database is back after" in line for line in lines) == 1, "\n".join(lines)
    # Nothing else worth a person's attention: not a line per failed poll, outbox pass or
    # /healthz request, nor the scheduler's per-second word that the stuck poll is still running.
    warnings = [
        line.split(": ", 1)[1]
        for line in lines
        if (" WARNING " in line or " ERROR " in line) and "HARKEN_TEST_NO_SUCH_SECRET" not in line
    ]
    assert len(warnings) == 2, "\n".join(lines)
    assert warnings[0].startswith("database unavailable: ")
    assert warnings[1].startswith("database is back after ")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_minute_of_sqlite_locked_by_another_process_loses_nothing_and_alerts_once(
    daemon: Daemon, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    holder: list[sqlite3.Connection] = []

    def lock() -> None:
        connection = sqlite3.connect(daemon.harness.database, isolation_level=None, timeout=60)
        connection.execute("BEGIN EXCLUSIVE")  # what a backup or a migration by hand would hold
        holder.append(connection)

    def release() -> None:
        holder[0].execute("COMMIT")
        holder[0].close()

    outage_scenario(
        daemon,
        http_server,
        smtp_server,
        f"sqlite:///{daemon.harness.database}",
        lock,
        release,
        SQLITE_LOCK_SECONDS,
    )


@dataclass
class TcpProxy:
    """127.0.0.1:port -> target, which the test can cut (listener and connections) and restore."""

    target: tuple[str, int]
    port: int = field(default_factory=free_port)
    _listener: socket.socket | None = None
    _sockets: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(50)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """The server gone: new connections refused, open ones dropped."""
        assert self._listener is not None
        with self._lock:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
            for each in self._sockets:
                with suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)
                each.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            threading.Thread(target=_pump, args=(client, server), daemon=True).start()
            threading.Thread(target=_pump, args=(server, client), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    with suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_minute_of_postgresql_unreachable_loses_nothing_and_alerts_once(
    daemon: Daemon,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    empty_postgresql_url: str,
) -> None:
    direct = sqlalchemy.make_url(empty_postgresql_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432)).start()
    through_proxy = direct.set(host="127.0.0.1", port=proxy.port)
    config = daemon.harness.config
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'url = "sqlite:///harken.db"',
            f'url = "{through_proxy.render_as_string(hide_password=False)}"',
        ),
        encoding="utf-8",
    )
    try:
        outage_scenario(
            daemon,
            http_server,
            smtp_server,
            empty_postgresql_url,
            proxy.cut,
            proxy.start,
            POSTGRESQL_OUTAGE_SECONDS,
        )
    finally:
        with suppress(AssertionError):
            proxy.cut()


def test_a_source_with_a_time_cursor_fetches_again_what_an_outage_kept_from_the_database(
    http_server: HttpServer, fetcher: Fetcher, empty_postgresql_url: str
) -> None:
    # Hacker News asks for items created since the time in its cursor: had that time moved on
    # with the failed save, what that poll fetched would never be asked for again.
    api = serve(http_server, story(1, NOW_I - 3 * HOUR))
    source = hackernews_source(http_server, fetcher)
    triage = Triage([Brand(name="Acme", terms=["Acme"])], load_rules(REPO / "rules"))
    direct = sqlalchemy.make_url(empty_postgresql_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432)).start()
    storage = Storage(
        direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    )
    try:
        assert poll_source(source, storage, triage, lambda: NOW).stored == 1

        # The database goes while the poll is under way: after its cursor was read.
        state = storage.poll_state(source.name)
        proxy.cut()
        api.hits += [story(2, NOW_I - 2 * HOUR), story(3, NOW_I - HOUR)]
        asked = len(api.queries)
        during = poll_source(source, storage, triage, lambda: NOW, state=state)
        assert len(api.queries) > asked  # fetched, but not stored
        assert during.stored == 0
        assert during.error is not None
        assert "could not" in during.error
        api.hits.append(story(4, NOW_I - 60))  # and more arrives before the database is back

        proxy.start()
        after = poll_source(source, storage, triage, lambda: NOW)
        assert after.error is None
        assert after.stored == 3
        assert stored_items(empty_postgresql_url) == Counter(["1", "2", "3", "4"])
        health = storage.health_of(source.name)
        assert health is not None
        assert health.failing_since is None  # the database failed, not Hacker News
        assert health.consecutive_failures == 0
    finally:
        storage.close()
        with suppress(AssertionError):
            proxy.cut()
