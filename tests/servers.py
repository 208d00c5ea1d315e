"""Real servers on 127.0.0.1 for tests: an HTTP server for feeds and API replies, an SMTP server."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Reply:
    """What the HTTP server answers for one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (timeouts)
    chunks: Iterator[bytes] | None = None  # streamed body, for huge or dripping responses
    raw: Iterator[bytes] | None = None  # the whole response, status line on: dripping headers


Handler = Callable[[BaseHTTPRequestHandler], Reply]


class HttpServer:
    """Serves whatever ``routes`` says, honouring If-None-Match against a reply's ETag."""

    def __init__(self) -> None:
        # Keyed by path with its query string, or by the bare path to answer any query.
        self.routes: dict[str, Reply | Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.bodies: list[bytes] = []  # request bodies, in order (POSTs to token endpoints)
        server = self

        class _Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                server.bodies.append(self.rfile.read(length))
                self.do_GET()

            def do_GET(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                route = server.routes.get(self.path) or server.routes.get(urlsplit(self.path).path)
                if route is None:
                    reply = Reply(b"not found", status=404)
                elif isinstance(route, Reply):
                    reply = route
                else:
                    reply = route(self)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.raw is not None:
                    self.close_connection = True
                    self._write(reply.raw)
                    return
                etag = reply.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunks is None:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                    return
                self.end_headers()
                self._write(reply.chunks)

            def _write(self, chunks: Iterator[bytes]) -> None:
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError, TimeoutError):
                    pass  # the client gave up, as it should on an oversize body

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        # A short poll interval makes stop() quick; the default 0.5 s adds up over a test suite.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Collector:
    def __init__(self, inbox: list[EmailMessage], refuse: Callable[[], bool]) -> None:
        self.inbox = inbox
        self.refuse = refuse

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse():
            return "451 Try again later"
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.inbox.append(message)
        return "250 OK"


class SmtpServer:
    """A real SMTP server (aiosmtpd) that keeps what it receives in ``inbox``."""

    def __init__(self) -> None:
        self.inbox: list[EmailMessage] = []
        self.refusing = False
        # aiosmtpd's Controller cannot bind port 0 itself: it connects to its own port to check.
        self._controller = Controller(
            _Collector(self.inbox, lambda: self.refusing), hostname="127.0.0.1", port=free_port()
        )

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
