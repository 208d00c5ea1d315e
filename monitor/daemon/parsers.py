"""The processes that parse feeds while the daemon polls several sources at once."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from monitor.errors import FetchError
from monitor.workers import exit_with_parent

log = logging.getLogger("harken")

T = TypeVar("T")

# Ctrl-C and systemd signal the whole process group; the parsers ignore that and finish the
# polls under way, and the daemon ends them after (or the parent-death signal does).
_STOPS = {signal.SIGINT, signal.SIGTERM}


def _start_parser(parent: int) -> None:
    for signum in _STOPS:
        signal.signal(signum, signal.SIG_IGN)
    # Blocked by the thread that started this process (see _submit): a stop that arrived while
    # it started up was held until now, and is now ignored.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    exit_with_parent(parent)


def _start_pool(processes: int) -> ProcessPoolExecutor:
    # Spawned, not forked: the daemon has threads (a fork may copy a lock one of them holds).
    # The workers are the daemon's own children, so the parent-death signal reaches them when it
    # dies; a fork server in between would keep them alive, and itself be kept alive by them.
    return ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_parser,
        initargs=(os.getpid(),),
    )


def _submit(pool: ProcessPoolExecutor, function: Callable[..., T], *args: Any) -> Future[T]:
    # The pool starts its workers on demand, inside submit, in this thread; a worker inherits
    # this thread's signal mask, so a stop cannot kill it before _start_parser ignores stops.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
    try:
        return pool.submit(function, *args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class ParserPool:
    """``processes`` parsers, replaced as a whole when one of them dies."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool = _start_pool(processes)
        self._replacing = threading.Lock()

    def offload(self, function: Callable[..., T], /, *args: Any) -> T:
        """Run ``function(*args)`` in a parser and wait for its result."""
        pool = self._pool
        try:
            return _submit(pool, function, *args).result()
        except BrokenProcessPool:
            # A worker died (the OOM killer, a crash in a C parser), and the pool with it: left
            # alone, every later parse of every source would fail until a restart.
            with self._replacing:
                if self._pool is pool:
                    log.error("a feed-parsing process died; starting new ones")
                    pool.shutdown(wait=False)
                    self._pool = _start_pool(self._processes)
            raise FetchError(
                "the process parsing the response died (out of memory?); it will be retried"
            ) from None

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
