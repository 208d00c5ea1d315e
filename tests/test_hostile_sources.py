"""The daemon against hostile feeds: each is cut off by a bound and reported, memory stays
bounded, and a well-behaved feed beside them keeps its schedule.

One ``harken run`` subprocess polls every case below from one local HTTP server at once, beside
a good feed that has a new item on every request. A second daemon polling only the good feed
runs at the same time, as the memory baseline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.storage import Storage
from tests.harness import Harness, rss_feed
from tests.servers import Handler, HttpServer, Reply, SmtpServer

MAX_BYTES = 10_000_000  # the shipped default [http] max_bytes
TIMEOUT = 2  # seconds: [http] timeout in the test config
MAX_ITEMS = 100  # of the 100,000-item feed
SECRET = "harken-must-never-read-this-7f3a"


@dataclass
class Sent:
    """How many bytes the server wrote for a case, per request."""

    bytes_per_request: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        with self.lock:
            self.bytes_per_request.append(0)
            index = len(self.bytes_per_request) - 1
        for chunk in chunks:
            yield chunk
            self.bytes_per_request[index] += len(chunk)


def zeros(total: int, size: int = 1_000_000) -> Iterator[bytes]:
    for _ in range(total // size):
        yield b"\0" * size


def gzip_bomb(decoded: int) -> Iterator[bytes]:
    """A gzip stream of ``decoded`` zero bytes, compressed as it goes: ~1,000:1."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    for chunk in zeros(decoded):
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def drip(data: bytes, every: float = 1.0) -> Iterator[bytes]:
    for byte in data:
        time.sleep(every)
        yield bytes([byte])


def billion_laughs() -> bytes:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
        "<title>t</title><item><guid>laugh</guid><title>Acme &lol9;</title></item></channel></rss>"
    ).encode()


def external_entities(secret_file: Path, dtd_url: str) -> bytes:
    return (
        '<?xml version="1.0"?><!DOCTYPE rss ['
        f'<!ENTITY secret SYSTEM "file://{secret_file}">'
        f'<!ENTITY % remote SYSTEM "{dtd_url}"> %remote;]>'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><guid>xxe</guid><title>Acme &secret;</title></item></channel></rss>"
    ).encode()


def external_dtd_only(dtd_url: str) -> bytes:
    # No internal declarations: the feed is read, and the DTD it points at must not be fetched.
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd_url}">'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><guid>dtd-1</guid><title>Acme shipped &secret; today</title></item>"
        "<item><guid>dtd-2</guid><title>Acme keeps shipping</title></item></channel></rss>"
    ).encode()


def invalid_utf8() -> bytes:
    good = rss_feed(("u-1", "Acme café opens", "Crème brûlée for all"))
    # One Latin-1 "é" in a feed that declares UTF-8, as a careless CMS writes it.
    stray = rss_feed(("u-2", "Acme caf\x00 closes", "bye"))
    stray = stray.replace(b"\x00", b"\xe9")
    items = stray[stray.index(b"<item>") : stray.index(b"</channel>")]
    return good.replace(b"</channel>", items + b"</channel>")


def many_items(count: int) -> bytes:
    items = b"".join(
        b"<item><guid>m-%d</guid><title>Acme item %d</title></item>" % (n, n) for n in range(count)
    )
    return (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + items
        + b"</channel></rss>"
    )


@dataclass
class World:
    """The server's cases and what it saw."""

    server: HttpServer
    sent: dict[str, Sent]
    good_requests: list[float] = field(default_factory=list)  # time.monotonic of each
    good_served: list[str] = field(default_factory=list)  # titles, in the order first served

    def source_urls(self) -> dict[str, str]:
        return {
            name: self.server.url(f"/{name}.rss")
            for name in (
                "laughs",
                "xxe",
                "external_dtd",
                "bomb",
                "huge_declared",
                "huge_streamed",
                "drip_body",
                "drip_headers",
                "invalid_utf8",
                "redirect_loop",
                "many_items",
            )
        }


def serve_world(server: HttpServer, secret_file: Path) -> World:
    sent = {name: Sent() for name in ("huge_declared", "huge_streamed", "drip_body")}
    world = World(server, sent)
    routes = server.routes
    dtd_url = server.url("/evil.dtd")
    routes["/evil.dtd"] = Reply(f'<!ENTITY secret SYSTEM "file://{secret_file}">'.encode())
    routes["/laughs.rss"] = Reply(billion_laughs())
    routes["/xxe.rss"] = Reply(external_entities(secret_file, dtd_url))
    routes["/external_dtd.rss"] = Reply(external_dtd_only(dtd_url))
    routes["/bomb.rss"] = lambda _: Reply(
        headers={"Content-Encoding": "gzip"}, chunks=gzip_bomb(1_000_000_000)
    )
    routes["/huge_declared.rss"] = lambda _: Reply(
        headers={"Content-Length": str(100_000_000)},
        chunks=sent["huge_declared"].counted(zeros(100_000_000)),
    )
    routes["/huge_streamed.rss"] = lambda _: Reply(
        chunks=sent["huge_streamed"].counted(zeros(100_000_000))
    )
    routes["/drip_body.rss"] = lambda _: Reply(
        chunks=sent["drip_body"].counted(drip(rss_feed(("d", "Acme drip", "slow"))))
    )
    routes["/drip_headers.rss"] = lambda _: Reply(
        raw=drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n" * 100)
    )
    routes["/invalid_utf8.rss"] = Reply(invalid_utf8())
    routes["/redirect_loop.rss"] = Reply(status=302, headers={"Location": "/loop-b.rss"})
    routes["/loop-b.rss"] = Reply(status=302, headers={"Location": "/redirect_loop.rss"})
    routes["/many_items.rss"] = Reply(many_items(100_000))

    routes["/good.rss"] = growing_feed(world.good_requests, world.good_served)
    routes["/baseline.rss"] = growing_feed([], [])
    return world


def growing_feed(requests: list[float], served: list[str]) -> Handler:
    """A feed with one more item on every request: its last 20."""
    lock = threading.Lock()

    def answer(_: BaseHTTPRequestHandler) -> Reply:
        with lock:
            requests.append(time.monotonic())
            served.append(f"Acme update {len(requests)}")
            items = [(f"good-{n}", title, "all fine") for n, title in enumerate(served)]
        return Reply(rss_feed(*items[-20:]), headers={"Content-Type": "application/rss+xml"})

    return answer


def write_config(harness: Harness, smtp_port: int, sources: dict[str, str]) -> None:
    tables = "".join(
        f'\n[sources.{name}]\ntype = "rss"\nurl = "{url}"\nevery = "1s"\n'
        + (f"max_items = {MAX_ITEMS}\n" if name == "many_items" else "")
        for name, url in sources.items()
    )
    # The harness's config sets [http] timeout = "2s" and keeps max_bytes at its default.
    harness.write_config({}, smtp_port, extra=tables)
    assert f'timeout = "{TIMEOUT}s"' in harness.config.read_text()


def start_daemon(harness: Harness) -> subprocess.Popen[bytes]:
    # To a file: a pipe nobody reads while the daemon runs would fill and block its logging.
    with (harness.folder / "daemon.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(harness.config), "run"],
            cwd=harness.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the forkserver and its parse workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [pid]
    for member in tree:
        tree += [child for child, parent in parents.items() if parent == member]
    return tree


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """Peak resident memory (VmHWM) in MB: the daemon's, and the largest of its child processes'
    (the forkserver and the parse workers)."""
    peaks = []
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        peaks += [
            int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")
        ]
    return peaks[0], max(peaks[1:], default=0.0)


def stop(daemon: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as an init system stops it; a daemon that does not stop fails the test."""
    tree = process_tree(daemon.pid)
    daemon.send_signal(signal.SIGTERM)
    try:
        assert daemon.wait(timeout=60) == 0
    finally:
        for pid in tree:  # the parse workers, too, if the daemon hung
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        daemon.wait()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


@pytest.mark.slow
def test_hostile_feeds_are_cut_off_reported_and_do_not_hold_up_a_good_one(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer, secret_file: Path
) -> None:
    world = serve_world(http_server, secret_file)
    hostile = world.source_urls()
    good = {"good": http_server.url("/good.rss")}
    harness = Harness(tmp_path / "hostile")
    harness.folder.mkdir()
    write_config(harness, smtp_server.port, {**hostile, **good})
    baseline = Harness(tmp_path / "baseline")
    baseline.folder.mkdir()
    write_config(baseline, smtp_server.port, {"good": http_server.url("/baseline.rss")})

    daemon, quiet_daemon = start_daemon(harness), start_daemon(baseline)
    log_file = harness.folder / "daemon.log"
    try:
        deadline = time.monotonic() + 60
        # The daemon creates the database; reading it before then would race its migration.
        while "harken is running" not in log_file.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        storage = Storage(f"sqlite:///{harness.database}")
        failing: set[str] = set()
        expected_failures = set(hostile) - {"invalid_utf8", "many_items", "external_dtd"}
        while time.monotonic() < deadline:
            failing = {h.source for h in storage.source_health() if h.last_error}
            # Every hostile case has failed at least once, among 15 polls of the good feed.
            if failing >= expected_failures and len(world.good_requests) >= 15:
                break
            time.sleep(0.5)
        peak, baseline_peak = peak_rss_mb(daemon.pid), peak_rss_mb(quiet_daemon.pid)
    finally:
        try:
            stop(daemon)
        finally:
            stop(quiet_daemon)
    log = log_file.read_text()
    assert failing >= expected_failures, log[-3000:]
    health = {entry.source: entry for entry in storage.source_health()}
    errors = {name: health[name].last_error or "" for name in expected_failures}

    # Each case is cut off by the bound meant for it, and says which knob to turn.
    too_large = f"larger than {MAX_BYTES:,} bytes; not read (raise [http] max_bytes to allow it)"
    timed_out = f"timed out after {TIMEOUT}s (raise [http] timeout to wait longer)"
    assert errors["bomb"] == f"{hostile['bomb']}: response {too_large}"
    assert errors["huge_declared"] == f"{hostile['huge_declared']}: response {too_large}"
    assert errors["huge_streamed"] == f"{hostile['huge_streamed']}: response {too_large}"
    assert errors["drip_body"] == f"{hostile['drip_body']}: {timed_out}"
    assert errors["drip_headers"] == f"{hostile['drip_headers']}: {timed_out}"
    assert "too many redirects (more than 5)" in errors["redirect_loop"]
    assert "redirecting in a loop" in errors["redirect_loop"]
    for name in ("laughs", "xxe"):
        assert "declares XML entities" in errors[name]
        assert "billion laughs" in errors[name]
    # ... and it is in the log an admin reads, once when the source stops hearing.
    for name, error in errors.items():
        assert log.count(f"source {name} cannot be reached: {error}") == 1, name

    # `harken sources list` shows who is failing, and what the others stored in the last day.
    listed = harness.harken("sources", "list")
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    rows = {line.split()[0]: line for line in lines if line.strip()}
    last_day = header.index("last day")  # the columns are aligned under the header
    for name in expected_failures:
        assert rows[name].rstrip().endswith(("failing", "failure)", "failures)")), rows[name]
        # Without the feed's own address, so what went wrong and the setting to change fit.
        assert errors[name].partition(": ")[2][:80] in rows[name]
    stored_in_a_day = {
        name: rows[name][last_day:].split()[0] for name in ("many_items", "invalid_utf8")
    }
    assert stored_in_a_day == {"many_items": str(MAX_ITEMS), "invalid_utf8": "2"}

    # The server could send little more than the cap (and what the sockets buffer) before
    # Harken hung up: nobody read 100 MB.
    assert max(world.sent["huge_declared"].bytes_per_request) < 3 * MAX_BYTES
    assert max(world.sent["huge_streamed"].bytes_per_request) < 3 * MAX_BYTES
    # One byte a second, cut off at the timeout: a few bytes, not the whole feed.
    assert max(world.sent["drip_body"].bytes_per_request) < 10

    # No file and no DTD was ever read on the feeds' say-so.
    assert "/evil.dtd" not in [path for path, _ in http_server.requests]
    stored = storage.verdicts_between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    storage.close()
    titles: dict[str, set[str]] = {name: set() for name in [*hostile, *good]}
    for entry in stored:
        mention = entry.verdict.mention
        titles[mention.source].add(mention.title)
        assert SECRET not in mention.title + mention.text
    assert titles["external_dtd"] >= {"Acme keeps shipping"}

    # Bad bytes in a UTF-8 feed become U+FFFD; the rest of the feed, accents included, is read.
    assert titles["invalid_utf8"] == {"Acme café opens", "Acme caf\N{REPLACEMENT CHARACTER} closes"}
    assert "not valid UTF-8 as it declares" in log

    # 100,000 items: the first MAX_ITEMS are read, and the log says how to read more.
    assert titles["many_items"] == {f"Acme item {n}" for n in range(MAX_ITEMS)}
    assert (
        f"the feed holds 100,000 items; read the first {MAX_ITEMS} (raise the source's max_items"
        in log
    )

    # The good feed kept its schedule and every item it served was stored.
    gaps = [b - a for a, b in zip(world.good_requests, world.good_requests[1:], strict=False)]
    assert len(world.good_requests) >= 15
    print(f"good feed: {len(gaps) + 1} polls, gaps (s): {[round(gap, 1) for gap in gaps]}")
    # Each poll is due 1 s after the last; a poll thread taken by a hostile case frees up within
    # the timeout. The first gap also waits for the parse workers to start, so it is left out.
    assert max(gaps[1:]) < 1 + TIMEOUT + 2, gaps
    assert titles["good"] == set(world.good_served)
    assert health["good"].last_error is None

    # Memory: near the quiet daemon's. The daemon runs 4 polls at once, each holding at most
    # max_bytes, twice over while it is handed on; unbounded, the bomb alone would be 1 GB and
    # the 100 MB response 100 MB. A parse worker parses one capped feed at a time; all 100,000
    # items would take it over 100 MB more.
    (main, worker), (quiet_main, quiet_worker) = peak, baseline_peak
    print(
        f"peak RSS (MB): daemon {main:.0f} vs {quiet_main:.0f}, worker {worker:.0f} vs {quiet_worker:.0f}"
    )
    assert main < quiet_main + 8 * MAX_BYTES / 1e6 + 20
    assert worker < quiet_worker + 50
