"""Polling many feeds from a local feed server: wall time, CPU, memory and the share spent parsing.

Run from the repo root:

    .venv/bin/python bench/poll_feeds.py [--data DIR] [--feeds N] [--threads N ...] [--repeats N]

A feed server runs in a process of its own (its CPU is not Harken's) and serves ``--feeds`` URLs
cycling over the real RSS, Atom and RDF files in DIR, each with an ETag. For each thread count a
fresh process builds the real app (``monitor.daemon.wiring.open_app``) from a temporary config.toml
with one ``rss`` source per URL and SQLite in a temporary folder, then polls every source with
``monitor.daemon.poll.scheduled_poll`` from a thread pool, as the daemon's scheduler does, three times:
  cold     an empty database: every feed answers 200 and is parsed, triaged and stored;
  partial  one feed in ten has changed (new ETag, one new item), the rest answer 304;
  warm     every feed answers 304 (median of ``--repeats``).
feedparser alone is timed over the same bodies in the same run, to give the share of a cycle's
CPU spent parsing. One cProfile run of a cold and a warm cycle shows where the rest goes.
Nothing is asserted: the figures are printed for a person to read.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import random
import re
import resource
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import feedparser

from monitor.config.load import load_config
from monitor.config.settings import RulesSettings
from monitor.daemon.poll import scheduled_poll
from monitor.daemon.summary import PollSummary
from monitor.daemon.wiring import App, open_app
from monitor.mail.mailer import FolderMailer
from monitor.source import Source

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "feeds"
# Harken's rss kind reads RSS, Atom and RDF; the data folder also holds JSON Feed, HTML and OPML.
NOT_FEEDS = {".json", ".html", ".htm", ".opml"}
CONTENT_TYPES = {".atom": "application/atom+xml", ".rdf": "application/rdf+xml"}
DAEMON_THREADS = 4  # monitor/scheduler.py: ThreadPoolExecutor(max_workers=4)
CHANGED_SHARE = 0.1  # feeds that change between the cold and the partial cycle
TERMS = ("Apple", "Swift", "Linux", "Google")
WARM_TARGET_MS = 2.0  # CPU per feed in an all-304 cycle
BOTH_CORES = 1.5  # CPU seconds per wall second that counts as "uses both cores"
_FIRST_ITEM = re.compile(rb"<(item|entry)[\s>]")
_NEW_ITEM_TEXTS = (
    "Apple ships Swift {n} for Linux, with a faster compiler.",
    "Google says the Apple store outage is down to a broken update; it is not working for many.",
    "Hands on with Swift {n}: the Linux build is quiet and steady.",
)


# ---- the feeds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedFile:
    path: str
    content_type: str
    size: int


def candidate_files(data: Path) -> list[FeedFile]:
    """Every file under ``data`` that may be a feed, in a stable order."""
    files = []
    for path in sorted(data.rglob("*")):
        if not path.is_file() or path.suffix.lower() in NOT_FEEDS:
            continue
        if path.name.upper().startswith("LICENSE"):
            continue
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/rss+xml")
        files.append(FeedFile(str(path), content_type, path.stat().st_size))
    return files


def parse_like_harken(body: bytes, content_type: str) -> Any:
    """feedparser called exactly as sources/rss.py calls it."""
    return feedparser.parse(
        body,
        response_headers={"content-type": content_type},
        sanitize_html=False,
        resolve_relative_uris=False,
    )


def time_parsing(files: Sequence[FeedFile], repeats: int) -> tuple[list[FeedFile], list[float]]:
    """The files Harken reads as feeds, and the median CPU seconds feedparser takes on each."""
    kept, seconds = [], []
    for file in files:
        body = Path(file.path).read_bytes()
        times = []
        for _ in range(repeats):
            started = time.process_time()
            feed = parse_like_harken(body, file.content_type)
            times.append(time.process_time() - started)
        # Harken's rule for "not a feed": no entries, and a parse error or no version.
        if not feed.entries and (feed.bozo or not feed.get("version")):
            print(f"skipped {file.path}: not a feed Harken's rss kind reads")
            continue
        kept.append(file)
        seconds.append(statistics.median(times))
    return kept, seconds


def changed_body(body: bytes, number: int) -> bytes:
    """The feed with one new item in front of its first, in the feed's own dialect."""
    found = _FIRST_ITEM.search(body)
    if found is None:
        return body  # the same body under a new ETag: changed as far as HTTP can tell
    text = _NEW_ITEM_TEXTS[number % len(_NEW_ITEM_TEXTS)].format(n=number)
    link = f"https://news.example/bench/{number}"
    if found.group(1) == b"entry":
        item = (
            f"<entry><id>{link}</id><title>{text[:40]}</title><link href='{link}'/>"
            f"<updated>2026-11-21T09:00:00Z</updated><summary>{text}</summary></entry>\n"
        )
    else:
        item = (
            f"<item><guid>{link}</guid><title>{text[:40]}</title><link>{link}</link>"
            f"<description>{text}</description></item>\n"
        )
    return body[: found.start()] + item.encode() + body[found.start() :]


# ---- the feed server, in a process of its own -----------------------------------------------


class FeedServer(ThreadingHTTPServer):
    """``/feed/N`` answers file N mod len(files) with an ETag; ``/stage/2`` changes some feeds."""

    daemon_threads = True
    request_queue_size = 256  # the default of 5 drops connections when eight pollers connect

    def __init__(self, files: Sequence[FeedFile], count: int, changed: set[int]) -> None:
        super().__init__(("127.0.0.1", 0), FeedHandler)
        self.files = files
        self.bodies = [Path(file.path).read_bytes() for file in files]
        self.count = count
        self.changed = {n: changed_body(self.bodies[n % len(files)], n) for n in changed}
        self.stage = 1
        self.served: Counter[str] = Counter()
        self.lock = threading.Lock()

    def reply(self, number: int) -> tuple[str, bytes, str]:
        """ETag, body and content type of feed ``number`` at the current stage."""
        file = self.files[number % len(self.files)]
        if self.stage >= 2 and number in self.changed:
            return f'"{number}-v2"', self.changed[number], file.content_type
        return f'"{number}-v1"', self.bodies[number % len(self.files)], file.content_type


class FeedHandler(BaseHTTPRequestHandler):
    # One connection per poll, as with a thousand different hosts (no TLS here, though).
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, FeedServer)
        parts = self.path.strip("/").split("/")
        if parts[0] == "stage" and len(parts) == 2:
            server.stage = int(parts[1])
            self._send(200, b"ok", {})
        elif parts[0] == "served":
            with server.lock:
                body = json.dumps(server.served).encode()
                server.served.clear()
            self._send(200, body, {"Content-Type": "application/json"})
        elif parts[0] == "feed" and len(parts) == 2 and parts[1].isdigit():
            etag, body, content_type = server.reply(int(parts[1]))
            status = 304 if self.headers.get("If-None-Match") == etag else 200
            with server.lock:
                server.served[str(status)] += 1
                server.served["bytes"] += len(body) if status == 200 else 0
            headers = {"ETag": etag, "Content-Type": content_type}
            self._send(status, body if status == 200 else b"", headers)
        else:
            self._send(404, b"not found", {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_feeds(files: list[FeedFile], count: int, changed: set[int], pipe: Connection) -> None:
    server = FeedServer(files, count, changed)
    pipe.send(server.server_address[1])
    server.serve_forever()


def control(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return json.loads(response.read()) if path == "/served" else None


# ---- Harken's side, in a fresh process per thread count -------------------------------------


def write_config(directory: Path, port: int, feeds: Sequence[int]) -> Path:
    """A config.toml with one rss source per feed number, the repo's rules and templates."""
    sources = "\n".join(
        f'[sources.feed{n:04d}]\ntype = "rss"\nurl = "http://127.0.0.1:{port}/feed/{n}"\n'
        for n in feeds
    )
    # The repo's sentiment lexicon, where this version of Harken has one.
    lexicon = REPO / "rules" / "sentiment" / "lexicon.toml"
    lexicon_line = (
        f"lexicon = {json.dumps(str(lexicon))}"
        if "lexicon" in RulesSettings.model_fields and lexicon.is_file()
        else ""
    )
    path = directory / "config.toml"
    path.write_text(
        f"""
[[brands]]
name = "Tech"
terms = {json.dumps(list(TERMS))}

{sources}
[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]

[storage]
url = "sqlite:///harken.db"

[rules]
path = {json.dumps(str(REPO / "rules"))}
{lexicon_line}

[templates]
path = {json.dumps(str(REPO / "templates"))}
""",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Cycle:
    """One polling cycle as Harken's process saw it, and what the server served."""

    name: str
    wall: float
    cpu: float
    peak_rss_mb: float  # the process's peak so far
    polled: int
    errors: int
    skipped: int
    fetched: int
    new: int
    stored: int
    served_200: int
    served_304: int
    served_mb: float


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _descendants_cpu() -> float:
    """CPU seconds of live descendant processes (the parse workers and the resource tracker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / ticks
    family = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in family} - family
        grew = bool(found)
        family |= found
    return sum(used[pid] for pid in family if pid != os.getpid())


def cpu_seconds() -> float:
    """CPU of this process, all threads, plus any child processes it waited for."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime + _descendants_cpu()


def run_cycle(name: str, harken: App, pool: ThreadPoolExecutor, port: int) -> Cycle:
    control(port, "/served")  # reset the server's counts
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()
    summaries = list(pool.map(partial(scheduled_poll, harken), harken.sources))
    wall, cpu = time.perf_counter() - started_wall, cpu_seconds() - started_cpu
    served = control(port, "/served")
    done = [summary for summary in summaries if summary is not None]
    return Cycle(
        name=name,
        wall=wall,
        cpu=cpu,
        peak_rss_mb=peak_rss_mb(),
        polled=len(summaries),
        errors=sum(summary.error is not None for summary in done),
        skipped=len(summaries) - len(done),
        fetched=sum(summary.fetched for summary in done),
        new=sum(summary.new for summary in done),
        stored=sum(summary.stored for summary in done),
        served_200=served.get("200", 0),
        served_304=served.get("304", 0),
        served_mb=served.get("bytes", 0) / 1e6,
    )


def measure_polling(
    port: int, count: int, threads: int, repeats: int, profile: tuple[int, int], pipe: Connection
) -> None:
    """Cold, partial and warm cycles with ``threads`` pollers; sends back dicts of Cycle."""
    with tempfile.TemporaryDirectory(prefix="harken-bench-poll-") as temporary:
        directory = Path(temporary)
        # Parse in processes as `harken run` does (one per CPU).
        harken = open_app(
            load_config(write_config(directory, port, range(count))),
            mailer=FolderMailer(directory),
            parse_processes=os.cpu_count() or 1,
        )
        try:
            baseline = peak_rss_mb()
            control(port, "/stage/1")
            with ThreadPoolExecutor(max_workers=threads) as pool:
                # Start the pool's threads off the clock, as a running daemon has them.
                list(pool.map(time.sleep, [0.01] * threads))
                cycles = [run_cycle("cold", harken, pool, port)]
                control(port, "/stage/2")
                cycles.append(run_cycle("partial-304", harken, pool, port))
                cycles += [run_cycle("warm", harken, pool, port) for _ in range(repeats)]
            feeds, top = profile
            # Every warm poll does the same work, so a few stand for all (the database is full).
            report = profile_cycle(harken, harken.sources[:feeds], top, cpu=True) if feeds else []
            mails = len(list(directory.glob("*.txt")))
        finally:
            harken.close()
    pipe.send((baseline, [asdict(cycle) for cycle in cycles], report, mails))


def measure_cold_profile(port: int, feeds: list[int], top: int, pipe: Connection) -> None:
    """cProfile (wall time) of one cold cycle of ``feeds``, polled one after another."""
    with tempfile.TemporaryDirectory(prefix="harken-bench-poll-") as temporary:
        directory = Path(temporary)
        harken = open_app(
            load_config(write_config(directory, port, feeds)), mailer=FolderMailer(directory)
        )
        try:
            report = profile_cycle(harken, harken.sources, top, cpu=False)
        finally:
            harken.close()
    pipe.send(report)


def in_process(target: Any, *args: Any) -> Any:
    """Run ``target(*args, pipe)`` in a fresh process and return what it sends back."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, sender))
    process.start()
    sender.close()
    try:
        return receiver.recv()
    except EOFError:
        process.join()
        raise SystemExit(f"the measuring process failed (exit code {process.exitcode})") from None
    finally:
        process.join()


# ---- profile --------------------------------------------------------------------------------

# Where a cycle's CPU goes: (label, path suffix, function names) is the cumulative time of those
# functions; (label, folder, "") is the own time of everything in that folder (a library).
STAGES = (
    ("waiting (reads every source's health)", "monitor/daemon/poll.py", "waiting"),
    ("Storage.cursor", "monitor/storage/store.py", "cursor"),
    ("RssSource.poll", "sources/rss.py", "poll"),
    ("  Fetcher.get (HTTP)", "monitor/fetch.py", "get"),
    ("  feedparser.parse", "feedparser/api.py", "parse"),
    ("  html_to_text", "sources/text.py", "html_to_text"),
    ("Triage.__call__", "monitor/triage.py", "__call__"),
    ("  SentimentScorer.score (VADER)", "monitor/sentiment.py", "score"),
    ("Storage.save_poll (cursor upsert + mentions)", "monitor/storage/store.py", "save_poll"),
    ("Storage.record_source_result (health)", "monitor/storage/store.py", "record_source_result"),
    ("deliver_alerts", "monitor/daemon/deliver.py", "deliver_alerts"),
    ("own time in sqlalchemy/", f"{os.sep}sqlalchemy{os.sep}", ""),
    ("own time in httpx/ and httpcore/", f"{os.sep}http", ""),
    ("own time in sqlite3 (C: execute, commit)", "~", "sqlite3"),
    ("json.dumps/loads (cursor and column JSON)", "json/__init__.py", "dumps|loads"),
)


def stage_time(
    raw: dict[tuple[str, int, str], tuple[Any, ...]], where: str, names: str
) -> tuple[float, int]:
    """Seconds and calls of one STAGES row."""
    if where == "~":  # built-in functions: their own time
        keys = [key for key in raw if key[0] == "~" and names in key[2]]
        return sum(raw[key][2] for key in keys), sum(raw[key][1] for key in keys)
    if not names:  # a library's own time
        if where == f"{os.sep}http":
            keys = [
                key
                for key in raw
                if f"{os.sep}httpx{os.sep}" in key[0] or f"{os.sep}httpcore{os.sep}" in key[0]
            ]
        else:
            keys = [key for key in raw if where in key[0]]
        return sum(raw[key][2] for key in keys), sum(raw[key][1] for key in keys)
    keys = [key for key in raw if key[0].endswith(where) and key[2] in names.split("|")]
    return sum(raw[key][3] for key in keys), sum(raw[key][1] for key in keys)


def profile_cycle(harken: App, sources: Sequence[Source], top: int, cpu: bool) -> list[str]:
    """``sources`` polled in order under cProfile; the stages' and the top functions' times.

    With ``cpu`` the profiler reads this thread's CPU clock, so waits (for the server, for
    fsync) do not count; that clock is a system call, so it inflates far more than the default.
    """
    profiler = cProfile.Profile(time.thread_time) if cpu else cProfile.Profile()
    summaries: list[PollSummary | None] = profiler.runcall(
        lambda: [scheduled_poll(harken, source) for source in sources]
    )
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    feeds = len(summaries)
    clock = "CPU" if cpu else "wall time, waits included,"
    lines = [f"{feeds:,} feeds polled in order, {total:.2f} s {clock} under cProfile:"]

    def row(label: str, seconds: float, calls: int) -> str:
        share = 100 * seconds / total
        each = 1000 * seconds / feeds
        return f"  {seconds:7.2f} s {share:5.1f}% {each:7.2f} ms/feed {calls:>9,} calls  {label}"

    for label, where, names in STAGES:
        lines.append(row(label, *stage_time(raw, where, names)))
    ours = [
        (key, entry)
        for key, entry in raw.items()
        if f"{os.sep}monitor{os.sep}" in key[0] or f"{os.sep}sources{os.sep}" in key[0]
    ]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    lines.append("  top functions in monitor/ and sources/ by cumulative time:")
    for (file, line, name), entry in ours[:top]:
        lines.append(row(f"{os.path.relpath(file, REPO)}:{line} {name}", entry[3], entry[1]))
    return lines


# ---- reporting ------------------------------------------------------------------------------


def spread(values: Sequence[float]) -> str:
    return f" (min {min(values):.2f}, max {max(values):.2f})" if len(values) > 1 else ""


def print_cycles(
    threads: int, baseline: float, cycles: Sequence[Cycle], parse_cpu: dict[str, float]
) -> Cycle:
    """One line per cycle, the warm ones as their median; returns the median warm cycle."""
    warm = [cycle for cycle in cycles if cycle.name == "warm"]
    median_warm = sorted(warm, key=lambda cycle: cycle.cpu)[len(warm) // 2]
    print(f"\n{threads} threads (Harken's process at start: {baseline:.0f} MB peak RSS)")
    print(
        f"  {'cycle':<12} {'wall s':>7} {'CPU s':>7} {'CPU ms/feed':>11} {'feeds/s':>8}"
        f" {'CPU/wall':>8} {'parsing':>8} {'peak RSS':>9}  served 200/304, MB; new, stored"
    )
    for cycle in [cycle for cycle in cycles if cycle.name != "warm"] + [median_warm]:
        parse = parse_cpu.get(cycle.name, 0.0)
        name = f"warm (x{len(warm)})" if cycle.name == "warm" else cycle.name
        trouble = f"; {cycle.errors} errors" if cycle.errors else ""
        trouble += f"; {cycle.skipped} skipped" if cycle.skipped else ""
        print(
            f"  {name:<12} {cycle.wall:7.2f} {cycle.cpu:7.2f} {1000 * cycle.cpu / cycle.polled:11.2f}"
            f" {cycle.polled / cycle.wall:8,.0f} {cycle.cpu / cycle.wall:8.2f}"
            f" {100 * parse / cycle.cpu:7.0f}% {cycle.peak_rss_mb:6.0f} MB"
            f"  {cycle.served_200:,}/{cycle.served_304:,}, {cycle.served_mb:.1f}; "
            f"{cycle.new:,}, {cycle.stored:,}{trouble}"
        )
    if len(warm) > 1:
        walls = [cycle.wall for cycle in warm]
        cpus = [1000 * cycle.cpu / cycle.polled for cycle in warm]
        print(f"  warm repeats: wall s{spread(walls)}; CPU ms/feed{spread(cpus)}")
    return median_warm


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"folder of feed files, searched recursively [default: {DEFAULT_DATA}]",
    )
    parser.add_argument("--feeds", type=int, default=1000, help="feed URLs [default: 1000]")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[DAEMON_THREADS, 2 * DAEMON_THREADS],
        help=f"poller pool sizes, one fresh run each [default: {DAEMON_THREADS} (the daemon's) and {2 * DAEMON_THREADS}]",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="warm cycles, median shown [default: 1]"
    )
    parser.add_argument(
        "--profile-feeds",
        type=int,
        default=30,
        help="feeds in the profiled warm cycle; 0 for no profiles [default: 30]",
    )
    parser.add_argument("--top", type=int, default=8, help="profile rows [default: 8]")
    arguments = parser.parse_args(argv)
    if arguments.feeds < 10 or arguments.repeats < 1 or min(arguments.threads) < 1:
        parser.error("--feeds must be at least 10, --repeats and --threads at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    started = time.perf_counter()
    arguments = parse_arguments(argv)
    data: Path = arguments.data
    count: int = arguments.feeds
    if not data.is_dir():
        raise SystemExit(f"{data}: no such folder of feeds (give one with --data)")
    files, parse_seconds = time_parsing(candidate_files(data), repeats=3)
    if not files:
        raise SystemExit(f"{data}: no RSS, Atom or RDF files in it")
    changed = set(random.Random(7).sample(range(count), round(count * CHANGED_SHARE)))
    # What feedparser alone costs for the bodies each cycle gets with a 200.
    parse_cpu = {
        "cold": sum(parse_seconds[n % len(files)] for n in range(count)),
        "partial-304": sum(parse_seconds[n % len(files)] for n in changed),
    }
    cold_mb = sum(files[n % len(files)].size for n in range(count)) / 1e6

    print(
        f"input: {count:,} feeds cycling over {len(files)} files from {data} "
        f"({cold_mb:.0f} MB in a cold cycle); {len(changed):,} change before the partial cycle"
    )
    print(f"brand terms {list(TERMS)}; rules from {REPO / 'rules'}; SQLite in a temporary folder")
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"machine: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}")
    print(
        f"feedparser alone, one thread, same bodies: {parse_cpu['cold']:.2f} s CPU for a cold cycle "
        f"({count / parse_cpu['cold']:.0f} feeds/s, {cold_mb / parse_cpu['cold']:.1f} MB/s)"
    )

    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    server = context.Process(target=serve_feeds, args=(files, count, changed, sender), daemon=True)
    server.start()
    try:
        port: int = receiver.recv()
        warm_by_threads: dict[int, Cycle] = {}
        cold_by_threads: dict[int, Cycle] = {}
        warm_profile: list[str] = []
        for index, threads in enumerate(arguments.threads):
            profile = (arguments.profile_feeds if index == 0 else 0, arguments.top)
            baseline, found, report, mails = in_process(
                measure_polling, port, count, threads, arguments.repeats, profile
            )
            cycles = [Cycle(**cycle) for cycle in found]
            warm_by_threads[threads] = print_cycles(threads, baseline, cycles, parse_cpu)
            cold_by_threads[threads] = cycles[0]
            print(f"  alert emails written: {mails}")
            warm_profile = warm_profile or report
        cold_profile: list[str] = []
        if arguments.profile_feeds:
            # Each file once: the same mix of sizes as the cycle, whose feeds cycle over them.
            feeds = list(range(min(len(files), count)))
            cold_profile = in_process(measure_cold_profile, port, feeds, arguments.top)
    finally:
        server.terminate()
        server.join()

    print("\n'parsing' = feedparser alone on the bodies the cycle got with a 200 / Harken's CPU")
    print("targets:")
    for threads, warm in warm_by_threads.items():
        per_feed = 1000 * warm.cpu / warm.polled
        verdict = "meets" if per_feed < WARM_TARGET_MS else "misses"
        print(
            f"  warm cycle (all 304) under {WARM_TARGET_MS:g} ms CPU per feed, {threads} threads: "
            f"{per_feed:.2f} ms -> {verdict}"
        )
    for threads, cold in cold_by_threads.items():
        use = cold.cpu / cold.wall
        verdict = "meets" if use >= BOTH_CORES else "misses"
        print(
            f"  cold cycle uses both cores (CPU/wall >= {BOTH_CORES:g}), {threads} threads: "
            f"{use:.2f} -> {verdict}"
        )
    if warm_profile:
        print(
            f"\nprofile of a warm cycle (the {arguments.threads[0]}-thread run's full database), ",
            end="",
        )
        print("\n".join(warm_profile))
    if cold_profile:
        print("\nprofile of a cold cycle (fresh database), ", end="")
        print("\n".join(cold_profile))
    print(
        "cProfile inflates pure-Python code with many small calls: read it for where, not how much."
    )
    print(f"\nthis run took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
