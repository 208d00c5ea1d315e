"""`harken poll` against lemon24/reader on one nginx feed farm: wall and CPU, cold and warm.

Run from the repo root (needs Debian's nginx-light and the `bench` extra: reader 3.26):

    .venv/bin/python bench/feed_farm.py [DATA_DIR] [--feeds N] [--brand-share F] [--no-reader]

The farm is ``--feeds`` static files under a temporary root, copies of the RSS, Atom and RDF
files under DATA_DIR (default ../shared/data/feeds), each copy's ids and links rewritten with its
number so no two are alike; in ``--brand-share`` of the copies (default 3%) one item's title
names the brand, "Zyxacme", a word no file under DATA_DIR contains. The bench starts nginx on a
free 127.0.0.1 port with ``etag on`` (so a second fetch gets a 304 from If-None-Match or
If-Modified-Since), and stops it at the end. Each side runs in a fresh process of its own:
  harken    the real app from a temporary config.toml (one rss source per feed, SQLite), one
            cycle being what `harken poll` does: poll_all, then deliver_alerts;
  harken, skip_before_parsing = false   the same, with the prefilter off;
  reader    reader 3.26, its own SQLite, the same URLs; one cycle is update_feeds_iter().
Each does a cold cycle (empty database, every feed a 200) then a warm one (every feed a 304).
Wall is perf_counter; CPU is getrusage of the process and its children. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "feeds"
BRAND = "Zyxacme"
NOT_FEEDS = {".json", ".html", ".htm", ".opml"}
SUFFIXES = {".xml", ".rss", ".atom", ".rdf"}  # nginx's types below; anything else becomes .xml
# An id or link element's text, and an href or rdf:about value: what makes an item itself.
_ID_TEXT = re.compile(rb"(<(guid|id|link)\b[^>]*>)(\s*[^<\s][^<]*)(</\2>)")
_ID_ATTRIBUTE = re.compile(rb"""(\b(?:href|rdf:about)\s*=\s*)(["'])([^"']*)\2""")
_AUTHORITY = re.compile(rb"^\s*[A-Za-z][\w+.-]*://[^/?#\s]*")
_FIRST_ITEM = re.compile(rb"<(item|entry)[\s>]")
_TITLE = re.compile(rb"<title\b[^>]*>")


# ---- the farm -------------------------------------------------------------------------------


def feed_files(data: Path) -> list[Path]:
    """Every file under ``data`` that Harken's rss kind reads as a feed, in a stable order."""
    from monitor.errors import BadPayload
    from sources.feed_parse import parse_feed

    kept = []
    for path in sorted(data.rglob("*")):
        if not path.is_file() or path.suffix.lower() in NOT_FEEDS:
            continue
        if path.name.upper().startswith("LICENSE"):
            continue
        try:
            parse_feed("bench", path.read_bytes(), "application/xml", "https://farm.example/", 500)
        except BadPayload:
            continue
        kept.append(path)
    return kept


def vary(body: bytes, number: int) -> bytes:
    """``body`` with every id and link made this copy's own."""

    def own(value: bytes) -> bytes:
        # In the path, not a fragment or query: Harken's canonical URLs drop those, and copies
        # of one story would be stored once.
        authority = _AUTHORITY.match(value)
        if authority is None:
            return value.rstrip() + f"-farm{number}".encode()
        return value[: authority.end()] + f"/farm{number}".encode() + value[authority.end() :]

    body = _ID_TEXT.sub(lambda m: m[1] + own(m[3]) + m[4], body)
    return _ID_ATTRIBUTE.sub(lambda m: m[1] + m[2] + own(m[3]) + m[2], body)


def name_brand(body: bytes) -> bytes | None:
    """``body`` with the brand at the start of its first item's title; None if it has none."""
    item = _FIRST_ITEM.search(body)
    title = _TITLE.search(body, item.end()) if item else None
    if title is None:
        return None
    return body[: title.end()] + BRAND.encode() + b" " + body[title.end() :]


def build_farm(files: list[Path], count: int, share: float, root: Path) -> set[int]:
    """Write ``count`` varied copies under ``root``; returns the numbers that name the brand."""
    bodies = [path.read_bytes() for path in files]
    for body, path in zip(bodies, files, strict=True):
        if BRAND.lower().encode() in body.lower():
            raise SystemExit(f"{path} names {BRAND}: pick another brand word")
    titled = [n for n in range(count) if name_brand(bodies[n % len(files)]) is not None]
    branded = set(random.Random(17).sample(titled, min(len(titled), round(count * share))))
    for number in range(count):
        index = number % len(files)
        body = vary(bodies[index], number)
        if number in branded:
            body = name_brand(body) or body
        suffix = files[index].suffix.lower()
        (root / f"{number:04d}{suffix if suffix in SUFFIXES else '.xml'}").write_bytes(body)
    return branded


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


NGINX_CONF = """
worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ application/rss+xml rss xml; application/atom+xml atom; application/rdf+xml rdf; }}
    default_type application/xml;
    etag on;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{port};
        root {prefix}/feeds;
    }}
}}
"""


def start_nginx(nginx: str, prefix: Path, port: int) -> subprocess.Popen[bytes]:
    """nginx serving ``prefix``/feeds on ``port``, once it accepts connections."""
    conf = prefix / "nginx.conf"
    conf.write_text(NGINX_CONF.format(prefix=prefix, port=port))
    # Run as root, nginx's workers drop to nobody, who must be able to read the farm.
    for folder in (prefix, prefix / "feeds"):
        folder.chmod(0o755)
    server = subprocess.Popen([nginx, "-c", str(conf), "-p", str(prefix)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = prefix / "error.log"
            raise SystemExit(f"nginx exited: {log.read_text() if log.exists() else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.05)
    stop_nginx(server)
    raise SystemExit("nginx did not accept connections within 10 s")


def stop_nginx(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGQUIT)  # graceful: finish what is under way, then exit
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# ---- the two sides, each in a fresh process -------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    wall: float
    cpu: float
    not_modified: int  # answered 304
    errors: int
    stored: int  # mentions (harken) or entries (reader) the cycle stored


def cpu_seconds() -> float:
    """CPU of this process, all threads, and of the children it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(cycle: Callable[[], tuple[int, int, int]]) -> Cycle:
    started_wall, started_cpu = time.perf_counter(), cpu_seconds()
    not_modified, errors, stored = cycle()
    wall, cpu = time.perf_counter() - started_wall, cpu_seconds() - started_cpu
    return Cycle(wall, cpu, not_modified, errors, stored)


def harken_side(urls: list[str], skip: bool, pipe: Connection) -> None:
    """Cold and warm cycles of `harken poll` over ``urls``; sends [cold, warm]."""
    from monitor.config.load import load_config
    from monitor.daemon.deliver import deliver_alerts
    from monitor.daemon.poll import poll_all
    from monitor.daemon.wiring import open_app
    from monitor.mail.mailer import FolderMailer

    logging.disable(logging.WARNING)  # the farm's per-source notes, repeated every cycle
    with tempfile.TemporaryDirectory(prefix="harken-farm-") as temporary:
        directory = Path(temporary)
        sources = "".join(
            f'[sources.feed{n:04d}]\ntype = "rss"\nurl = "{url}"\n\n' for n, url in enumerate(urls)
        )
        config = directory / "config.toml"
        config.write_text(
            f'[[brands]]\nname = "{BRAND}"\nterms = ["{BRAND}"]\n\n{sources}'
            '[recipients]\noncall = ["oncall@example.com"]\nmarketing = ["marketing@example.com"]\n\n'
            '[storage]\nurl = "sqlite:///harken.db"\n\n'
            f"[polling]\nskip_before_parsing = {'true' if skip else 'false'}\n\n"
            f'[rules]\npath = "{REPO / "rules"}"\n\n[templates]\npath = "{REPO / "templates"}"\n',
            encoding="utf-8",
        )
        app = open_app(load_config(config), mailer=FolderMailer(directory))

        def cycle() -> tuple[int, int, int]:
            summaries = poll_all(app)  # what `harken poll` does, then it sends the alerts
            deliver_alerts(app)
            return (
                sum(s.error is None and s.fetched == 0 for s in summaries),
                sum(s.error is not None for s in summaries),
                sum(s.stored for s in summaries),
            )

        try:
            pipe.send([measure(cycle), measure(cycle)])
        finally:
            app.close()


def reader_side(urls: list[str], pipe: Connection) -> None:
    """Cold and warm update_feeds of lemon24/reader over ``urls``; sends [cold, warm]."""
    from reader import make_reader

    warnings.simplefilter("ignore")  # a warning per feed reader cannot read, every cycle

    with tempfile.TemporaryDirectory(prefix="reader-farm-") as temporary:
        reader = make_reader(str(Path(temporary) / "reader.sqlite"))
        for url in urls:
            reader.add_feed(url)

        def cycle() -> tuple[int, int, int]:
            before = reader.get_entry_counts().total or 0
            # scheduled=False: every feed, as `harken poll` polls every source.
            results = list(reader.update_feeds_iter(scheduled=False))
            after = reader.get_entry_counts().total or 0
            return (
                sum(result.not_modified for result in results),
                sum(result.error is not None for result in results),
                after - before,
            )

        try:
            pipe.send([measure(cycle), measure(cycle)])
        finally:
            reader.close()


def in_process(target: Callable[..., None], *args: Any) -> list[Cycle]:
    """Run ``target(*args, pipe)`` in a fresh process; what it sends back."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(*args, sender))
    process.start()
    sender.close()
    try:
        cycles: list[Cycle] = receiver.recv()
        return cycles
    except EOFError:
        process.join()
        raise SystemExit(f"{target.__name__} failed (exit code {process.exitcode})") from None
    finally:
        process.join()


# ---- the report -----------------------------------------------------------------------------


def print_table(sides: dict[str, list[Cycle]], feeds: int) -> None:
    print(
        f"\n  {'side':<32} {'cycle':<5} {'wall s':>7} {'CPU s':>7} {'CPU ms/feed':>11}"
        f" {'CPU ms/304':>10} {'304s':>5} {'errors':>6} {'stored':>7}"
    )
    for name, cycles in sides.items():
        for label, cycle in zip(("cold", "warm"), cycles, strict=True):
            per_304 = (
                f"{1000 * cycle.cpu / cycle.not_modified:10.2f}" if cycle.not_modified else " " * 10
            )
            print(
                f"  {name:<32} {label:<5} {cycle.wall:7.2f} {cycle.cpu:7.2f}"
                f" {1000 * cycle.cpu / feeds:11.2f} {per_304} {cycle.not_modified:5}"
                f" {cycle.errors:6} {cycle.stored:7}"
            )
    harken, reader = sides.get("harken"), sides.get("reader 3.26")
    if harken and reader:
        print("\n  ratios reader/harken (targets: cold wall >= 10, warm CPU >= 5, goal 10)")
        for label, ours, theirs in zip(("cold", "warm"), harken, reader, strict=True):
            print(
                f"    {label}: wall {theirs.wall / ours.wall:.2f}, CPU {theirs.cpu / ours.cpu:.2f}"
            )
    whole = sides.get("harken, skip_before_parsing off")
    if harken and whole:
        print(
            "  prefilter, cold cycle whole/skip: "
            f"wall {whole[0].wall / harken[0].wall:.2f}, CPU {whole[0].cpu / harken[0].cpu:.2f}"
        )
    if harken:
        warm = harken[1]
        warm_304 = 1000 * warm.cpu / max(warm.not_modified, 1)
        print(f"  harken CPU per 304: {warm_304:.2f} ms (target <= 0.5 ms)")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    options.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    options.add_argument("--feeds", type=int, default=1000, help="feeds in the farm [1000]")
    options.add_argument("--brand-share", type=float, default=0.03, help="feeds naming the brand")
    options.add_argument("--no-reader", action="store_true", help="measure harken only")
    options.add_argument("--no-whole", action="store_true", help="skip the prefilter-off run")
    args = options.parse_args()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if nginx is None:
        print("nginx not found: install Debian's nginx-light (apt-get install nginx-light)")
        sys.exit(2)
    if not args.no_reader:
        try:
            import reader  # noqa: F401
        except ImportError:
            print("reader not installed: pip install -e '.[bench]' (reader 3.26)")
            sys.exit(2)
    files = feed_files(args.data)
    if not files:
        raise SystemExit(f"{args.data}: no RSS, Atom or RDF feeds in it")
    with tempfile.TemporaryDirectory(prefix="harken-nginx-") as temporary:
        prefix = Path(temporary)
        (prefix / "feeds").mkdir()
        branded = build_farm(files, args.feeds, args.brand_share, prefix / "feeds")
        size = sum(path.stat().st_size for path in (prefix / "feeds").iterdir())
        port = free_port()
        names = sorted(path.name for path in (prefix / "feeds").iterdir())
        urls = [f"http://127.0.0.1:{port}/{name}" for name in names]
        load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
        print(
            f"farm: {args.feeds:,} feeds copied from {len(files)} files under {args.data}"
            f" ({size / 1e6:.0f} MB); {len(branded)} name {BRAND}; nginx on port {port}"
        )
        print(f"machine: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}")
        server = start_nginx(nginx, prefix, port)
        sides: dict[str, list[Cycle]] = {}
        try:
            sides["harken"] = in_process(harken_side, urls, True)
            if not args.no_whole:
                sides["harken, skip_before_parsing off"] = in_process(harken_side, urls, False)
            if not args.no_reader:
                sides["reader 3.26"] = in_process(reader_side, urls)
        finally:
            stop_nginx(server)
    print_table(sides, args.feeds)


if __name__ == "__main__":
    main()
