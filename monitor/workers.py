"""Worker processes that end when the Harken process that started them ends, however it ends.

A SIGKILLed parent runs no clean-up, and a supervisor may signal only the main process: its
workers would be left waiting for work for ever, or finishing a minute of triage at full CPU.
So each worker asks Linux to kill it when its parent dies (the parent-death signal, immediate
even while the worker is inside a C parser that holds the GIL), and also watches its parent's
pid from a thread: the portable fallback, and the check for a parent that died before the
request took effect.

Linux sends the parent-death signal when the *thread* that forked the worker ends, not only the
process. Harken's pools are started from threads that live as long as the pool (the main
thread, the scheduler's job threads, the pool's own worker-managing thread), and a parse worker
killed early is replaced with its pool (monitor.daemon.parsers).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time

log = logging.getLogger("harken")

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_EVERY = 0.5  # seconds between looks at the parent's pid


def exit_with_parent(parent: int) -> None:
    """Pool initializer: end this process as soon as ``parent`` (the pid that started it) ends.

    Pass ``os.getpid()`` of the starting process, read there, not in the worker.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        # SIGKILL, not SIGTERM: parse workers ignore SIGTERM so that a stop finishes their polls.
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            reason = os.strerror(ctypes.get_errno())
            log.warning(
                "worker %d: no parent-death signal (%s); watching instead", os.getpid(), reason
            )
    if os.getppid() != parent:  # it died before the signal was asked for: nobody will send it
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="harken-parent-watch", daemon=True).start()


def _watch(parent: int) -> None:
    # An orphan is adopted by init or a subreaper, so its parent pid changes when its parent dies.
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY)
    os._exit(1)  # no clean-up: there is nobody left to hand results to
