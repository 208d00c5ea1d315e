"""Worker processes die with Harken: a SIGKILLed ``harken run`` or ``harken triage`` leaves no
parser, fork server, resource tracker or triage worker behind, whatever supervises it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon import (
    Daemon,
    command_line,
    cpu_seconds,
    descendants,
    query,
    still_running,
    wait_until,
)
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

# Long enough for a loaded two-core machine; a worker that watches its parent ends in under one.
GONE_WITHIN = 10.0


def kill_and_count_survivors(pid: int, workers: set[tuple[int, int]]) -> list[str]:
    """SIGKILL ``pid`` alone (not its process group: a supervisor may not kill the group) and
    return the command lines of the ``workers`` still running ``GONE_WITHIN`` seconds later."""
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    wait_until(lambda: not still_running(workers), GONE_WITHIN, every=0.1)
    left = still_running(workers)
    print(
        f"{len(workers)} workers, {len(left)} left after "
        f"{time.monotonic() - started:.1f} s: {[command_line(p) for p, _ in left]}"
    )
    return [command_line(p) or str(p) for p, _ in left]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


@pytest.fixture
def daemon(harness: Harness, http_server: HttpServer, smtp_server: SmtpServer) -> Iterator[Daemon]:
    for name in ("a", "b"):
        http_server.routes[f"/{name}.xml"] = Reply(
            rss_feed((f"{name}-1", f"Acme post {name}", "Acme Cloud is great, thanks team"))
        )
    sources = {name: http_server.url(f"/{name}.xml") for name in ("a", "b")}
    harness.write_config(sources, smtp_server.port)
    running = Daemon(harness, harness.folder / "daemon.log")
    yield running
    running.close()  # kills its process group: what this test finds left over goes too


@pytest.mark.slow
def test_a_killed_daemon_leaves_no_worker_processes(harness: Harness, daemon: Daemon) -> None:
    daemon.wait_for_log("harken is running")
    # Both feeds parsed means the parse workers have started.
    assert wait_until(
        lambda: query(harness.database, "SELECT count(*) FROM mentions") == [(2,)], 60
    ), daemon.output()
    workers = descendants(daemon.process.pid)
    assert workers, "the daemon started no worker processes"

    survivors = kill_and_count_survivors(daemon.process.pid, workers)

    assert survivors == []


@pytest.mark.slow
def test_a_killed_triage_leaves_no_worker_processes(harness: Harness, tmp_path: Path) -> None:
    harness.write_config({}, smtp_port=25)
    mentions = tmp_path / "mentions.jsonl"
    # Long posts (a pasted thread, a log), each read up to triage.max_text_chars: a chunk of
    # them keeps a worker busy for a minute, as the one left at 50% CPU was.
    text = " ".join(["Acme support is useless, still waiting for my refund. Awful!"] * 800)
    mentions.write_text("".join(json.dumps({"id": n, "text": text}) + "\n" for n in range(800)))
    with mentions.open("rb") as stdin:
        triage = subprocess.Popen(
            [sys.executable, "-m", "monitor", "-c", str(harness.config), "triage", "--jobs", "2"],
            cwd=harness.folder,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        assert wait_until(lambda: len(descendants(triage.pid)) >= 2, 60)
        workers = descendants(triage.pid)
        # Killed mid-chunk, not while the workers wait for their first one.
        assert wait_until(lambda: all(cpu_seconds(pid) > 1 for pid, _ in workers), 60)

        survivors = kill_and_count_survivors(triage.pid, workers)

        assert survivors == []
    finally:
        triage.kill()
        triage.wait()
        for pid, _ in still_running(descendants(triage.pid) | workers):
            os.kill(pid, signal.SIGKILL)


# A parent that starts a worker busy in a Python loop, takes the parent-death signal back (as
# on a system without one), prints the worker's pid and kills itself.
WATCH_ONLY = """
import ctypes, multiprocessing, os, sys, time
from monitor.workers import exit_with_parent

def start(parent):
    exit_with_parent(parent)
    ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0: only the watch is left

def spin():
    while True:
        pass

if __name__ == "__main__":
    pool = multiprocessing.get_context("fork").Pool(1, start, (os.getpid(),))
    pool.apply_async(spin)
    time.sleep(0.5)
    print(*(child.pid for child in multiprocessing.active_children()), flush=True)
    os.kill(os.getpid(), 9)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="takes back Linux's parent-death signal")
def test_a_worker_without_the_parent_death_signal_still_ends_with_its_parent(
    tmp_path: Path,
) -> None:
    script = tmp_path / "parent.py"
    script.write_text(WATCH_ONLY)
    pids = tmp_path / "pids"
    with pids.open("w") as output:  # a file, not a pipe: a surviving worker would hold a pipe
        subprocess.run([sys.executable, str(script)], stdout=output, timeout=60, check=False)
    workers = [int(pid) for pid in pids.read_text().split()]
    assert workers
    try:
        # A zombie left for an init that does not reap has an empty command line, like the dead.
        assert wait_until(lambda: not any(command_line(pid) for pid in workers), GONE_WITHIN)
    finally:
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
