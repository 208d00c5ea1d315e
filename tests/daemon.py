"""``harken run`` as a child process the test can kill, stop and read, and the database it left."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path

from tests.harness import Harness


class Daemon:
    """One ``harken run`` in its own process group, its log in a file beside the config."""

    def __init__(self, harness: Harness, log: Path, *options: str) -> None:
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "--config", str(harness.config), "run", *options],
                cwd=harness.folder,
                stdout=output,
                stderr=subprocess.STDOUT,
                # PYTHONFAULTHANDLER: a daemon that will not stop is made to print every
                # thread's stack (stop() sends SIGABRT), so the test says where it hung.
                env={**os.environ, "NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"},
                # Its own group, so the feed parsers it forks die with it and nothing is left over.
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 60) -> None:
        wait_until(lambda: text in self.output() or self.process.poll() is not None, timeout)
        assert text in self.output(), self.output()

    def kill(self) -> None:
        """SIGKILL the daemon and everything it started: the power cut."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to the daemon and the processes it started, as systemd stops a service; its
        exit status."""
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGABRT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            raise AssertionError(
                f"harken run did not stop within {timeout:.0f} s of SIGTERM; its log, with "
                f"the stack of every thread at the end:\n{self.output()[-20000:]}"
            ) from None

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        else:
            # The daemon is gone; a forked parser it left behind must not outlive the test.
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def read_only(database: Path) -> sqlite3.Connection:
    """The daemon's SQLite database, opened so the test cannot change it."""
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    if not database.exists():
        return []
    with closing(read_only(database)) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" in str(error):
                return []  # the daemon has not created its tables yet
            raise


def descendants(pid: int) -> set[tuple[int, int]]:
    """Every live process below ``pid``, as (pid, start time): the start time tells a process
    from a later one that reused its pid."""
    parents: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = fields
    found: set[tuple[int, int]] = set()
    below = [pid]
    while below:
        parent = below.pop()
        for child, (ppid, started) in parents.items():
            if ppid == parent and (child, started) not in found:
                found.add((child, started))
                below.append(child)
    return found


def still_running(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Those of ``processes`` (from ``descendants``) that have not exited."""
    return {(pid, started) for pid, started in processes if _started(pid) == started}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time) of a live process; None once it has exited, zombies included
    (an init that does not reap leaves orphans' zombies behind, which hold nothing)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[1]), int(fields[19])


def _started(pid: int) -> int | None:
    fields = _stat(pid)
    return fields[1] if fields else None


def cpu_seconds(pid: int) -> float:
    """User and system CPU time ``pid`` has used; 0 once it has exited."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
