"""The processes that parse feeds while the daemon polls several sources at once."""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import forkserver
from typing import Any, TypeVar

from monitor.errors import FetchError

log = logging.getLogger("harken")

T = TypeVar("T")


def _start_pool(processes: int) -> ProcessPoolExecutor:
    """Ctrl-C and systemd signal the whole process group; the parsers ignore that and finish
    the polls under way, and the daemon ends them after."""
    if threading.current_thread() is threading.main_thread():
        # The fork server starts with these ignored, and so does every parser it forks.
        stops = (signal.SIGINT, signal.SIGTERM)
        handlers = [signal.signal(signum, signal.SIG_IGN) for signum in stops]
        try:
            forkserver.ensure_running()
        finally:
            for signum, handler in zip(stops, handlers, strict=True):
                signal.signal(signum, handler)
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("forkserver"))


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
            return pool.submit(function, *args).result()
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
