"""`harken run`'s web server under load and against rude clients, over real sockets."""

from __future__ import annotations

import http.client
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.config.load import load_config
from monitor.daemon.scheduler import Heartbeat
from monitor.daemon.web import serve_web
from monitor.daemon.wiring import open_app
from monitor.web.passwords import hash_password
from monitor.web.serve import WebServer
from tests.harness import Clock, Harness
from tests.servers import SmtpServer
from tests.web import PASSWORD, SECRET, sign_in, stock

CLOCK = Clock(datetime(2026, 11, 21, 9, 30, tzinfo=UTC))
CLIENTS = 200
# The figure: what a load balancer's health checks, and people opening the inbox at
# once, may wait. On a loaded two-core machine (load average 12) a burst takes 0.5-1.5 s. A
# listen backlog of 5 leaves most of it waiting on TCP's SYN retries (1 s, 3 s, 7 s, …).
ANSWERED_WITHIN = 2.0


@pytest.fixture
def url(tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    harness = Harness(tmp_path)
    harness.write_config(
        {}, smtp_server.port, extra='\n[web]\nlisten = "127.0.0.1:0"\nsecret_env = "HARKEN_NONE"\n'
    )
    monkeypatch.chdir(harness.folder)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start()
    harken = open_app(load_config(harness.config), now=CLOCK)
    server = serve_web(harken, Heartbeat(scheduler).alive)
    assert isinstance(server, WebServer)
    try:
        yield server.url
    finally:
        server.stop()
        harken.close()
        scheduler.shutdown(wait=False)


def get_status(
    host: str,
    port: int,
    start: threading.Barrier,
    deadline: float,
    path: str = "/healthz",
    headers: dict[str, str] | None = None,
) -> int | None:
    """GET ``path`` on a connection of its own; its status, or None if not answered in time."""
    start.wait()
    connection = http.client.HTTPConnection(host, port, timeout=max(deadline - time.monotonic(), 0))
    try:
        connection.request("GET", path, headers=headers or {})
        status = connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()
    return status if time.monotonic() <= deadline else None


def burst(
    url: str, path: str, headers: dict[str, str] | None = None
) -> tuple[list[int | None], float]:
    """CLIENTS requests for ``path`` at once, each on its own connection: their statuses
    (None: not answered within ANSWERED_WITHIN) and the seconds until the last answer."""
    address = httpx.URL(url)
    start = threading.Barrier(CLIENTS + 1)
    statuses: list[int | None] = []
    deadline = time.monotonic() + 60  # set again below, once every client is ready

    def client() -> None:
        statuses.append(get_status(address.host, address.port or 0, start, deadline, path, headers))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    began = time.monotonic()
    deadline = began + ANSWERED_WITHIN
    start.wait()
    for thread in threads:
        thread.join(timeout=max(deadline + 60 - time.monotonic(), 0))
    return statuses, time.monotonic() - began


@pytest.mark.slow
def test_200_concurrent_health_checks_are_all_answered(url: str) -> None:
    statuses, took = burst(url, "/healthz")

    answered = statuses.count(200)
    print(f"{answered} of {CLIENTS} concurrent /healthz answered 200 in {took:.2f} s")
    assert answered == CLIENTS, f"{CLIENTS - answered} not answered within {ANSWERED_WITHIN:.0f} s"


@pytest.fixture
def inbox_url(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """`harken run`'s web server with a secret, so with the inbox, a user and some mentions."""
    harness = Harness(tmp_path)
    harness.write_config(
        {}, smtp_server.port, extra='\n[web]\nlisten = "127.0.0.1:0"\nsecret_env = "HARKEN_LOAD"\n'
    )
    monkeypatch.chdir(harness.folder)
    monkeypatch.setenv("HARKEN_LOAD", SECRET)
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start()
    harken = open_app(load_config(harness.config), now=lambda: datetime.now(UTC))
    stock(harken.storage, datetime.now(UTC))
    harken.storage.add_user("rory", "responder", hash_password(PASSWORD), datetime.now(UTC))
    server = serve_web(harken, Heartbeat(scheduler).alive)
    assert isinstance(server, WebServer)
    try:
        yield server.url
    finally:
        server.stop()
        harken.close()
        scheduler.shutdown(wait=False)


@pytest.mark.slow
def test_200_concurrent_inbox_pages_for_a_signed_in_user_are_all_answered(
    inbox_url: str,
) -> None:
    with httpx.Client(base_url=inbox_url, timeout=10) as client:
        assert sign_in(client, "rory", PASSWORD).status_code == 303
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        assert "Acme outage" in client.get("/").text

    statuses, took = burst(inbox_url, "/", {"Cookie": cookie})

    answered = statuses.count(200)
    print(f"{answered} of {CLIENTS} concurrent inbox pages answered 200 in {took:.2f} s")
    assert answered == CLIENTS, f"{CLIENTS - answered} not answered within {ANSWERED_WITHIN:.0f} s"


def hang_up(url: str, request: bytes, *, reset: bool) -> None:
    """Send ``request`` and hang up before reading the answer: with a TCP reset (``reset``, as a
    client that crashed or timed out does) or an ordinary close."""
    address = httpx.URL(url)
    with socket.create_connection((address.host, address.port or 0), timeout=5) as sock:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(request)


def test_clients_that_hang_up_early_leave_no_traceback(
    url: str, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="harken")
    # /metrics is long enough to be written in several pieces, the later ones to a closed socket.
    for round in range(20):
        for path in ("/metrics", "/healthz"):
            request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
            hang_up(url, request, reset=round % 2 == 0)
    hang_up(url, b"GET /metr", reset=True)  # gone in the middle of the request line

    # Still serving; and the answers under way have finished by the time this one is read.
    time.sleep(0.5)
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err
    assert "Exception occurred" not in out + err
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # Said, at debug level, through Harken's logger (so in the log's own format).
    assert any("went away" in r.getMessage() for r in caplog.records)
