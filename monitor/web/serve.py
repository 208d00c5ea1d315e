"""Serving the app over HTTP with uvicorn: in the foreground (``harken web serve``) or in a
background thread beside the scheduler (``harken run``).

Both bind the socket here, before uvicorn starts, so a port already taken is an ``OSError``
the caller reports in its own words, and ``listen = "127.0.0.1:0"`` knows the port it got.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("harken.web")

# The kernel trims this to net.core.somaxconn. socketserver's old default of 5 left a burst of
# 200 health checks mostly waiting on TCP's SYN retries (1 s, 3 s, 7 s, …).
BACKLOG = 1024
STARTED_WITHIN = 10.0  # seconds uvicorn may take to be ready
STOPPED_WITHIN = 5.0  # seconds an answer under way may take to finish when the process stops


class _QuietProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, saying at debug level (not silently, not with a
    traceback) that a client hung up before its answer: a load balancer's probe timing out,
    a closed tab."""

    def connection_lost(self, exc: Exception | None) -> None:
        unanswered = self.cycle is not None and not self.cycle.response_complete
        if exc is not None or unanswered:
            client = self.client[0] if self.client else "a client"
            log.debug("web: %s went away before its answer: %s", client, exc or "closed")
        super().connection_lost(exc)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: any free port); OSError if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _server(app: ASGIApp) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        http=_QuietProtocol,
        lifespan="off",
        backlog=BACKLOG,
        # uvicorn's access log would write each request line, an alert link's signature
        # included; its other loggers propagate to the root logger Harken configured, and so
        # through its redactor.
        access_log=False,
        log_config=None,
        # The connecting address is what the sign-in rate limit counts: an X-Forwarded-For
        # header from anyone would otherwise let them pick another.
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(STOPPED_WITHIN),
    )
    return uvicorn.Server(config)


class WebServer:
    """The app served on a socket of its own."""

    def __init__(self, app: ASGIApp, sock: socket.socket) -> None:
        self._socket = sock
        self._server = _server(app)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}"

    def run(self) -> None:
        """Serve in this thread until SIGINT or SIGTERM (uvicorn handles them here)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()

    def start(self) -> WebServer:
        """Serve in a background thread; returns once it answers. The caller owns the
        signals: uvicorn installs no handlers outside the main thread."""
        self._thread = threading.Thread(target=self.run, name="harken-web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTED_WITHIN
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                raise OSError(f"the web server did not start within {STARTED_WITHIN:.0f} s")
            time.sleep(0.01)
        if not self._server.started:
            raise OSError("the web server stopped as it started (its error is logged above)")
        return self

    def stop(self) -> None:
        """Stop accepting requests, let the answers under way finish, close the socket."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=STOPPED_WITHIN + 2)
