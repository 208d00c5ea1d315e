"""Soak: the real ``harken run`` polling 200 local feeds for half an hour, items and alerts flowing.

Run from the repo root:

    .venv/bin/python bench/soak.py [--minutes 30] [--feeds 200] [--rate 10] [--every 30s]

A feed server in a process of its own serves ``--feeds`` RSS feeds. From the start, new items
appear at ``--rate`` per second in all, round-robin over the feeds, each feed showing its
latest 20 with an ETag (304 when nothing is new). A share of the items are urgent complaints
naming the brand Acme, which the repo's rules/ alert on; others name Acme calmly, and the rest
are real feed items from ``--data`` that name no brand. The daemon is the real CLI in its own
process, with SQLite, the repo's rules and templates, ``[web]`` serving ``/metrics``, a digest
every 10 minutes and an aiosmtpd server in this process receiving the alerts.

The bench knows when each item appeared, and the feed server records when it first served it,
so each alert's latency splits into the wait for a poll (appeared -> first served: the floor
any poller on that schedule has) and Harken's own share (first served -> SMTP received).
Memory is the daemon's RSS (its parse processes included) sampled every ``--sample`` seconds.
After ``--minutes`` the stream stops, the daemon gets a poll interval and a half to deliver
what it saw, and is stopped with SIGTERM. Nothing is asserted: the figures are for a person.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "feeds"
WINDOW = 20  # items each feed shows, newest first
BACKLOG = 5  # old, brandless items each feed already has when the daemon starts
ITEM_URL = "https://soak.example/item/{}"
_ITEM_IN_ALERT = re.compile(r"soak\.example/item/(\d+)")
URGENT = (  # each rated urgent by the shipped rules (outages.toml, complaints.toml)
    "Acme Cloud is down again for everyone, total outage since {hour}:00. Nothing works.",
    "Acme Cloud login is broken and I lost a day of work on the {thing}.",
    "Is Acme down? The {thing} is not loading, terrible.",
    "@acme your {thing} crashed again and took my files with it. Awful.",
)
CALM = (  # name the brand, alert nobody
    "Hands on with the new Acme {thing}: it syncs in the background.",
    "Acme ships {thing} {n} with faster sync and a new settings page.",
    "Notes from a week of moving our team's {thing} to Acme Cloud.",
)
THINGS = ("dashboard", "mobile app", "sync client", "billing page", "API", "admin console")
OFF_TOPIC = (  # used when no data folder is given
    "Release notes for version {n} of a text editor nobody here uses.",
    "A long read on the history of railway timetables in the {n}s.",
)


# ---- the stream of items ----------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """Item i appears at ``t0 + i / rate`` on feed ``i % feeds``; its kind follows from i."""

    feeds: int
    rate: float
    urgent_share: float
    calm_share: float
    fillers: tuple[tuple[str, str], ...]  # (title, text) of real items naming no brand

    def kind(self, item: int) -> str:
        draw = random.Random(item * 7919 + 13).random()
        if draw < self.urgent_share:
            return "urgent"
        return "calm" if draw < self.urgent_share + self.calm_share else "other"

    def entry(self, item: int) -> tuple[str, str]:
        """Title and text of item ``item``."""
        pick = random.Random(item)
        kind = self.kind(item)
        if kind == "other":
            return self.fillers[item % len(self.fillers)]
        pool = URGENT if kind == "urgent" else CALM
        text = pick.choice(pool).format(thing=pick.choice(THINGS), n=item % 97, hour=item % 24)
        return text.split(":")[0].split(".")[0][:80], text

    def appeared(self, t0: float, item: int) -> float:
        return t0 + item / self.rate

    def count_by(self, t0: float, moment: float) -> int:
        """Items that have appeared by ``moment``."""
        return 0 if moment < t0 else math.floor((moment - t0) * self.rate) + 1


def load_fillers(data: Path | None) -> tuple[tuple[str, str], ...]:
    """Titles and texts of real feed items that name none of the brand's terms."""
    found: list[tuple[str, str]] = []
    if data is not None and data.is_dir():
        for path in sorted(data.rglob("*")):
            if not path.is_file() or path.suffix.lower() in {".json", ".html", ".htm", ".opml"}:
                continue
            for entry in feedparser.parse(path.read_bytes()).entries[:40]:
                title = str(entry.get("title", ""))[:200]
                text = re.sub(r"<[^>]+>", " ", str(entry.get("summary", "")))[:1500]
                if title and "acme" not in (title + text).lower():
                    found.append((title, text))
    if not found:
        found = [(text.format(n=n)[:40], text.format(n=n)) for n in range(50) for text in OFF_TOPIC]
    return tuple(found)


# ---- the feed server, in a process of its own ----------------------------------------------


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, stream: Stream) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.stream = stream
        self.t0: float | None = None
        self.stopped_at: float | None = None
        self.first_served: dict[int, float] = {}
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()

    def latest(self, feed: int, moment: float) -> list[int]:
        """The items feed ``feed`` shows at ``moment``, newest first."""
        if self.t0 is None:
            return []
        count = self.stream.count_by(self.t0, min(moment, self.stopped_at or moment))
        if count <= feed:
            return []
        newest = feed + (count - 1 - feed) // self.stream.feeds * self.stream.feeds
        return list(range(newest, -1, -self.stream.feeds))[:WINDOW]

    def body(self, feed: int, items: Sequence[int]) -> bytes:
        assert self.t0 is not None or not items
        entries = []
        for item in items:
            title, text = self.stream.entry(item)
            published = time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT",
                time.gmtime(self.stream.appeared(self.t0 or 0, item)),
            )
            entries.append(
                f"<item><guid>{ITEM_URL.format(item)}</guid><title>{escape(title)}</title>"
                f"<link>{ITEM_URL.format(item)}</link><pubDate>{published}</pubDate>"
                f"<description>{escape(text)}</description></item>"
            )
        for old in range(BACKLOG):  # brandless items from long ago, always at the bottom
            title, text = self.stream.fillers[(feed * BACKLOG + old) % len(self.stream.fillers)]
            link = f"https://old.example/{feed}/{old}"
            entries.append(
                f"<item><guid>{link}</guid><title>{escape(title)}</title><link>{link}</link>"
                f"<pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate>"
                f"<description>{escape(text)}</description></item>"
            )
        return (
            '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Soak feed {feed}</title><link>https://soak.example/{feed}</link>"
            + "".join(entries)
            + "</channel></rss>"
        ).encode()


class FeedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, FeedServer)
        parts = self.path.strip("/").split("/")
        now = time.time()
        if parts[0] == "start" and len(parts) == 2:
            server.t0 = float(parts[1])
            self._send(200, b"ok", {})
        elif parts[0] == "stop":
            server.stopped_at = now
            self._send(200, b"ok", {})
        elif parts[0] == "report":
            with server.lock:
                report = {"first_served": server.first_served, "served": server.served}
                body = json.dumps(report).encode()
            self._send(200, body, {"Content-Type": "application/json"})
        elif parts[0] == "feed" and len(parts) == 2 and parts[1].isdigit():
            feed = int(parts[1])
            items = server.latest(feed, now)
            etag = f'"{feed}-{items[0] if items else "none"}"'
            if self.headers.get("If-None-Match") == etag:
                with server.lock:
                    server.served["304"] += 1
                self._send(304, b"", {"ETag": etag})
                return
            body = server.body(feed, items)
            with server.lock:
                server.served["200"] += 1
                for item in items:
                    server.first_served.setdefault(item, now)
            self._send(200, body, {"ETag": etag, "Content-Type": "application/rss+xml"})
        else:
            self._send(404, b"not found", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status != 304:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_feeds(stream: Stream, ready: Connection) -> None:
    server = FeedServer(stream)
    ready.send(server.server_address[1])
    server.serve_forever(0.2)


# ---- the SMTP server, in this process ---------------------------------------------------------


@dataclass
class Inbox:
    """Alert arrivals by item, and digests, as the SMTP server received them."""

    alerts: dict[int, list[float]] = field(default_factory=dict)
    digests: int = 0
    other: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        received = time.time()
        message = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        subject = str(message["Subject"] or "")
        part = message.get_body(("plain",))
        text = part.get_content() if part is not None else ""
        items = {int(found) for found in _ITEM_IN_ALERT.findall(str(text))}
        with self.lock:
            if "Digest" in subject:
                self.digests += 1  # it lists items too, but it is not their alert
            elif not items:
                self.other += 1
            else:
                for item in items:
                    self.alerts.setdefault(item, []).append(received)
        return "250 OK"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- the daemon -------------------------------------------------------------------------------


def write_config(folder: Path, feeds_url: str, feeds: int, every: str, smtp: int, web: int) -> Path:
    tables = "".join(
        f'[sources.feed{n:04d}]\ntype = "rss"\nurl = "{feeds_url}/feed/{n}"\nevery = "{every}"\n'
        for n in range(feeds)
    )
    lexicon = REPO / "rules" / "sentiment" / "lexicon.toml"
    config = folder / "config.toml"
    config.write_text(
        f"""
[organisation]
name = "Soak Inc."

[[brands]]
name = "Acme"
terms = ["Acme", "@acme", "Acme Cloud"]

{tables}
[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]

[storage]
url = "sqlite:///harken.db"

[email]
host = "127.0.0.1"
port = {smtp}
from = "harken@example.com"

[alerts]
notify = ["oncall"]

[digest]
to = ["marketing"]
schedule = "*/10 * * * *"

[web]
listen = "127.0.0.1:{web}"

[rules]
path = "{REPO / "rules"}"
{f'lexicon = "{lexicon}"' if lexicon.exists() else ""}

[templates]
path = "{REPO / "templates"}"
""",
        encoding="utf-8",
    )
    return config


def process_tree(pid: int) -> set[int]:
    """``pid`` and its descendants (the parse processes), from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, its in parents.items() if its == parent]
        tree.update(children)
        frontier += children
    return tree


def rss_of_tree(pid: int) -> int:
    return sum(status_kb(each, "VmRSS") for each in process_tree(pid)) * 1024


def cpu_of_tree(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid`` and its living descendants."""
    seconds = 0.0
    for each in process_tree(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics as {sample name: {sorted labels: value}}; empty if the daemon does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
            text = reply.read().decode()
    except (OSError, urllib.error.URLError):
        return {}
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str) -> float:
    return sum(samples.get(name, {}).values())


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since t0
    rss: int
    cpu: float
    stored: float
    polls: float
    errors: float


# ---- the report -------------------------------------------------------------------------------


def percentiles(values: Sequence[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]

    return (
        f"p50 {at(0.50):6.1f} s   p95 {at(0.95):6.1f} s   p99 {at(0.99):6.1f} s   "
        f"max {ordered[-1]:6.1f} s   (n={len(ordered)})"
    )


def megabytes(size: float) -> str:
    return f"{size / 1e6:.0f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long items flow")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="new items per second, all feeds")
    parser.add_argument("--urgent-share", type=float, default=0.1)
    parser.add_argument("--calm-share", type=float, default=0.3)
    parser.add_argument("--every", default="30s", help="each source's poll interval")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="real feeds for fillers")
    args = parser.parse_args(argv)
    every_seconds = float(args.every.rstrip("s"))

    stream = Stream(
        args.feeds, args.rate, args.urgent_share, args.calm_share, load_fillers(args.data)
    )
    receive, ready = multiprocessing.Pipe(duplex=False)
    feeds = multiprocessing.Process(target=serve_feeds, args=(stream, ready), daemon=True)
    feeds.start()
    feeds_url = f"http://127.0.0.1:{receive.recv()}"
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    web_port = free_port()
    web_url = f"http://127.0.0.1:{web_port}"

    with tempfile.TemporaryDirectory(prefix="harken-soak-") as temporary:
        folder = Path(temporary)
        config = write_config(folder, feeds_url, args.feeds, args.every, smtp.port, web_port)
        log_path = folder / "harken.log"
        with log_path.open("wb") as log:
            daemon = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "monitor",
                    "--config",
                    str(config),
                    "--log-format",
                    "json",
                    "run",
                ],
                cwd=folder,
                # Alert emails carry signed ack links, as in production.
                env={**os.environ, "HARKEN_WEB_SECRET": secrets.token_hex(32)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            deadline = time.monotonic() + 60
            while not scrape(web_url):
                if daemon.poll() is not None or time.monotonic() > deadline:
                    print(log_path.read_text()[-3000:])
                    print("the daemon did not start")
                    return 1
                time.sleep(0.5)
            t0 = time.time()
            urllib.request.urlopen(f"{feeds_url}/start/{t0}", timeout=10).close()
            print(
                f"soak: {args.feeds} feeds every {args.every}, {args.rate:g} items/s "
                f"({args.urgent_share:.0%} urgent, {args.calm_share:.0%} calm), "
                f"{args.minutes:g} min, daemon pid {daemon.pid}",
                flush=True,
            )
            samples = run_and_sample(args, daemon, web_url, t0)
            urllib.request.urlopen(f"{feeds_url}/stop", timeout=10).close()
            stopped = time.time()
            # Let the daemon poll once more and deliver what it saw before the stream stopped.
            drain_until = time.monotonic() + every_seconds * 1.5 + 5
            while time.monotonic() < drain_until and daemon.poll() is None:
                time.sleep(1)
            final = scrape(web_url)
            peak_kb = status_kb(daemon.pid, "VmHWM")
        finally:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                try:
                    daemon.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    daemon.kill()
                    daemon.wait()
            with urllib.request.urlopen(f"{feeds_url}/report", timeout=30) as reply:
                served = json.loads(reply.read())
            smtp.stop()
            feeds.terminate()
        report(args, stream, t0, stopped, samples, final, peak_kb, served, inbox, log_path, daemon)
    return 0


def run_and_sample(
    args: argparse.Namespace, daemon: subprocess.Popen[bytes], web_url: str, t0: float
) -> list[Sample]:
    samples: list[Sample] = []
    end = t0 + args.minutes * 60
    while daemon.poll() is None:
        metrics = scrape(web_url)
        samples.append(
            Sample(
                time.time() - t0,
                rss_of_tree(daemon.pid),
                cpu_of_tree(daemon.pid),
                total(metrics, "harken_mentions_stored_total"),
                total(metrics, "harken_polls_total"),
                total(metrics, "harken_poll_errors_total"),
            )
        )
        last = samples[-1]
        if len(samples) % max(1, round(60 / args.sample)) == 0:
            print(
                f"  {last.at / 60:5.1f} min  rss {megabytes(last.rss)}  polls {last.polls:.0f}  "
                f"stored {last.stored:.0f}  poll errors {last.errors:.0f}",
                flush=True,
            )
        if time.time() >= end:
            break  # the last sample is taken at the end of the stream
        time.sleep(max(0.0, min(args.sample, end - time.time())))
    return samples


def report(
    args: argparse.Namespace,
    stream: Stream,
    t0: float,
    stopped: float,
    samples: Sequence[Sample],
    final: dict[str, dict[tuple[tuple[str, str], ...], float]],
    peak_kb: int,
    served: dict[str, Any],
    inbox: Inbox,
    log_path: Path,
    daemon: subprocess.Popen[bytes],
) -> None:
    every_seconds = float(args.every.rstrip("s"))
    published = stream.count_by(t0, stopped)
    kinds = Counter(stream.kind(item) for item in range(published))
    first_served = {int(item): moment for item, moment in served["first_served"].items()}
    urgent = [item for item in range(published) if stream.kind(item) == "urgent"]
    end_to_end, poll_wait, harken_share = [], [], []
    for item in urgent:
        arrivals = inbox.alerts.get(item)
        if not arrivals:
            continue
        appeared = stream.appeared(t0, item)
        end_to_end.append(arrivals[0] - appeared)
        if item in first_served:
            poll_wait.append(first_served[item] - appeared)
            harken_share.append(arrivals[0] - first_served[item])
    # An item that appeared in the last poll interval may not have been seen before the stop.
    due = [item for item in urgent if stream.appeared(t0, item) < stopped - every_seconds * 1.2]
    missing = [item for item in due if item not in inbox.alerts]
    repeated = sum(len(arrivals) > 1 for arrivals in inbox.alerts.values())
    unexpected = sorted(set(inbox.alerts) - set(urgent))

    elapsed = stopped - t0
    stored = total(final, "harken_mentions_stored_total")
    brand_items = kinds["urgent"] + kinds["calm"]
    print()
    print(
        f"stream: {elapsed / 60:.1f} min, {published} items published ({dict(kinds)};"
        f" {len(stream.fillers)} distinct real items as fillers),"
    )
    print(f"        feed server answered {dict(served['served'])}")
    print(
        f"mentions: {stored:.0f} stored, {stored / elapsed:.2f}/s;"
        f" brand items published {brand_items / elapsed:.2f}/s"
        f" -> stored/published {stored / max(1, brand_items):.3f}"
    )
    by_severity = {
        dict(labels)["severity"]: value
        for labels, value in final.get("harken_mentions_stored_total", {}).items()
    }
    print(f"          by severity {by_severity}")
    print(
        f"alerts: {len(urgent)} urgent items, {len(due)} due before the stop,"
        f" {len(inbox.alerts)} alerted, missing {len(missing)}, alerted twice {repeated},"
        f" alerted but not urgent {len(unexpected)}; other alerts (about sources) {inbox.other};"
        f" digests received {inbox.digests}"
    )
    print(f"  latency feed -> inbox:      {percentiles(end_to_end)}")
    print(
        f"  of it, wait for a poll:     {percentiles(poll_wait)}   <- the floor (every {args.every})"
    )
    print(f"  of it, Harken's own share:  {percentiles(harken_share)}")
    if end_to_end and poll_wait:
        ratio = statistics.median(end_to_end) / max(0.001, statistics.median(poll_wait))
        print(f"  median feed->inbox / median poll wait: {ratio:.2f}")
    count = total(final, "harken_alert_latency_seconds_count")
    if count:
        mean = total(final, "harken_alert_latency_seconds_sum") / count
        print(f"  /metrics store -> accept: {count:.0f} alerts, mean {mean:.2f} s")

    steady = [sample for sample in samples if sample.at >= every_seconds * 1.5]
    if len(steady) >= 2:
        start, end = steady[0], steady[-1]
        peak = max(sample.rss for sample in samples)
        print(
            f"memory (daemon + parse processes): start {megabytes(start.rss)} at"
            f" {start.at / 60:.1f} min, end {megabytes(end.rss)} at {end.at / 60:.1f} min,"
            f" peak {megabytes(peak)} (daemon alone {megabytes(peak_kb * 1024)});"
            f" end/start {end.rss / start.rss:.2f}"
        )
        print(
            f"cpu (daemon + parse processes): {(end.cpu - start.cpu) / (end.at - start.at):.2f}"
            f" CPU s per wall s from start to end (2 cores = 2.00);"
            f" {(end.cpu - start.cpu) / max(1.0, end.polls - start.polls) * 1000:.1f} ms per poll"
        )
        half = [sample for sample in steady if sample.at >= steady[-1].at / 2]
        if len(half) >= 3:
            slope = linear_slope([s.at for s in half], [float(s.rss) for s in half])
            print(f"        growth over the second half: {slope * 3600 / 1e6:+.1f} MB/hour")

    errors = final.get("harken_poll_errors_total", {})
    kinds_of_error: Counter[str] = Counter()
    for labels, value in errors.items():
        kinds_of_error[dict(labels)["kind"]] += int(value)
    print(
        f"errors: polls {total(final, 'harken_polls_total'):.0f}, failed {sum(kinds_of_error.values())}"
        f" {dict(kinds_of_error)}; outbox pending"
        f" {final.get('harken_outbox_depth', {}).get((('status', 'pending'),), 0):.0f}, failed"
        f" {final.get('harken_outbox_depth', {}).get((('status', 'failed'),), 0):.0f};"
        f" digests {dict_of(final, 'harken_digest_sends_total', 'outcome')}"
    )
    levels: Counter[str] = Counter()
    messages: Counter[str] = Counter()
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            levels["not json"] += 1
            messages[line[:120]] += 1
            continue
        levels[entry.get("level", "?")] += 1
        if entry.get("level") in {"warning", "error", "critical"}:
            messages[str(entry.get("message", ""))[:120]] += 1
    print(f"log: {dict(levels)}; daemon exit status {daemon.returncode}")
    # The machine may be shared: other work's load shows in every figure above.
    print("load average at the end (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    for message, times in messages.most_common(5):
        print(f"  {times} x {message}")


def dict_of(
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, key: str
) -> dict[str, float]:
    found: Counter[str] = Counter()
    for labels, value in samples.get(name, {}).items():
        found[dict(labels)[key]] += int(value)
    return dict(found)


def linear_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


if __name__ == "__main__":
    sys.exit(main())
