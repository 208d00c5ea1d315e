"""A real web inbox for tests: uvicorn in a thread on 127.0.0.1, over a SQLite file with a few
stored mentions and one user of each role."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from monitor.mention import Mention, Sentiment, Severity, Verdict
from monitor.storage import MentionQuery, Storage
from monitor.web.app import create_app
from monitor.web.passwords import hash_password
from tests.test_mention_search import mention_verdict, store

SECRET = "a test secret that is long enough to sign sessions"
PASSWORD = "correct horse battery"
XSS_TEXT = "Acme <script>alert('owned')</script> <img src=x onerror=alert(1)>"
XSS_URL = "javascript:alert(document.cookie)"


@dataclass
class Inbox:
    """The running inbox: its address, its storage, and ids of what the tests look for."""

    url: str
    storage: Storage
    database: Path
    outage_id: int
    hostile_id: int

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, follow_redirects=False)

    @contextmanager
    def signed_in(self, name: str) -> Iterator[httpx.Client]:
        with self.client() as client:
            answer = sign_in(client, name, PASSWORD)
            assert answer.status_code == 303, answer.text
            yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: httpx.Client, name: str, password: str) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login", data={"csrf": token, "name": name, "password": password, "next": "/"}
    )


def stock(storage: Storage, now: datetime) -> tuple[int, int]:
    """Mentions over a month, an urgent one with an open alert, and a hostile one."""
    store(storage, now - timedelta(days=20), mention_verdict("old", "Acme was slow last month"))
    store(
        storage,
        now - timedelta(hours=2),
        mention_verdict(
            "outage",
            "Acme is down again and support will not answer",
            title="Acme outage",
            author="Dana",
            severity=Severity.URGENT,
            label="negative",
            tags=("outage",),
            rules=("outage",),
        ),
        mention_verdict("praise", "Acme shipped version two", source="forum", label="positive"),
    )
    hostile = Verdict(
        mention=Mention(source="forum", id="xss", text=XSS_TEXT, url=XSS_URL, title=""),
        matched=True,
        brands=("Acme",),
        sentiment=Sentiment(0.0, "neutral"),
        severity=Severity.NORMAL,
    )
    store(storage, now - timedelta(hours=1), hostile)
    ids = {m.item_id: m.id for m in storage.find_mentions(MentionQuery(), 100)}
    return ids["outage"], ids["xss"]


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def serve(folder: Path) -> Iterator[Inbox]:
    """Start the inbox; yields it running, stops it after."""
    database = folder / "harken.db"
    storage = Storage(f"sqlite:///{database}")
    now = datetime.now(UTC)
    outage_id, hostile_id = stock(storage, now)
    for name, role in (("ada", "admin"), ("rory", "responder"), ("vic", "viewer")):
        storage.add_user(name, role, hash_password(PASSWORD), now)
    app = create_app(storage, SECRET, now=lambda: datetime.now(UTC), sources=("forum", "news"))
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the inbox did not start within 10 s"
        time.sleep(0.02)
    host, port = sock.getsockname()
    try:
        yield Inbox(f"http://{host}:{port}", storage, database, outage_id, hostile_id)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        storage.close()
