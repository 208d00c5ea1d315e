"""The Fetcher against a real local web server: what a source gets back, and when it gives up."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from monitor.errors import FetchError, SourceError
from monitor.fetch import USER_AGENT, Fetcher
from tests.servers import HttpServer, Reply, free_port


def test_a_redirect_is_followed_and_the_final_address_returned(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/old.rss"] = Reply(status=301, headers={"Location": "/new.rss"})
    http_server.routes["/new.rss"] = Reply(
        b"<rss/>",
        headers={
            "Content-Type": "application/rss+xml",
            "ETag": 'W/"v7"',
            "Last-Modified": "Tue, 03 Jun 2025 09:00:00 GMT",
        },
    )

    fetched = fetcher.get(http_server.url("/old.rss"))

    assert fetched is not None
    assert fetched.url == http_server.url("/new.rss")
    assert fetched.body == b"<rss/>"
    assert fetched.content_type == "application/rss+xml"
    assert (fetched.etag, fetched.last_modified) == ('W/"v7"', "Tue, 03 Jun 2025 09:00:00 GMT")
    assert [path for path, _ in http_server.requests] == ["/old.rss", "/new.rss"]


def test_validators_are_sent_and_304_means_nothing_new(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/feed"] = Reply(b"<rss/>", headers={"ETag": '"v1"'})

    unchanged = fetcher.get(
        http_server.url("/feed"), etag='"v1"', last_modified="Tue, 03 Jun 2025 09:00:00 GMT"
    )

    headers = {name.lower(): value for name, value in http_server.requests[-1][1].items()}
    assert unchanged is None
    assert headers["if-none-match"] == '"v1"'
    assert headers["if-modified-since"] == "Tue, 03 Jun 2025 09:00:00 GMT"
    assert headers["user-agent"] == USER_AGENT


def test_a_304_leaves_the_connection_open_for_the_next_request(fetcher: Fetcher) -> None:
    connections: list[int] = []

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps the connection open, as nginx does

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def do_GET(self) -> None:
            fresh = self.headers.get("If-None-Match") != '"v1"'
            self.send_response(200 if fresh else 304)
            self.send_header("ETag", '"v1"')
            if fresh:
                self.send_header("Content-Length", "6")
            self.end_headers()
            if fresh:
                self.wfile.write(b"<rss/>")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/feed"
    try:
        first = fetcher.get(url)
        assert first is not None
        answers = [fetcher.get(url, etag=first.etag) for _ in range(3)]
        assert answers == [None, None, None]
        assert len(connections) == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_dripping_its_body_is_cut_off_by_the_overall_timeout(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    sent: list[int] = []

    def one_byte_a_tenth_of_a_second() -> Iterator[bytes]:
        for _ in range(100):  # ten seconds in all; each wait is well under the 0.5 s timeout
            time.sleep(0.1)
            sent.append(1)
            yield b" "

    http_server.routes["/drip"] = Reply(chunks=one_byte_a_tenth_of_a_second())
    url = http_server.url("/drip")
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        fetcher.get(url)

    assert str(caught.value) == f"{url}: timed out after 0.5s (raise [http] timeout to wait longer)"
    assert time.monotonic() - started < 1.2
    assert len(sent) < 12


def test_a_server_dripping_its_headers_is_cut_off_by_the_overall_timeout(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    def status_line_a_byte_a_tenth_of_a_second() -> Iterator[bytes]:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:  # ten seconds and more
            time.sleep(0.1)
            yield bytes([byte])

    http_server.routes["/drip"] = Reply(raw=status_line_a_byte_a_tenth_of_a_second())
    url = http_server.url("/drip")
    started = time.monotonic()

    with pytest.raises(FetchError) as caught:
        fetcher.get(url)

    assert str(caught.value) == f"{url}: timed out after 0.5s (raise [http] timeout to wait longer)"
    assert time.monotonic() - started < 1.2


def test_a_declared_oversize_body_is_refused_before_reading(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/big"] = Reply(b"x" * 1_000_001)

    with pytest.raises(FetchError, match=r"larger than 1,000,000 bytes"):
        fetcher.get(http_server.url("/big"))


def test_a_compressed_bomb_is_measured_after_decompression(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)
    http_server.routes["/bomb"] = Reply(bomb, headers={"Content-Encoding": "gzip"})

    with pytest.raises(FetchError, match=r"larger than 1,000,000 bytes"):
        fetcher.get(http_server.url("/bomb"))

    assert len(bomb) < 1_000_000


def test_a_compressed_bomb_is_never_inflated_far_past_the_cap(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    def gigabyte_of_zeros_gzipped() -> Iterator[bytes]:
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        for _ in range(1000):
            yield compressor.compress(b"\0" * 1_000_000)
        yield compressor.flush()

    http_server.routes["/bomb"] = Reply(
        headers={"Content-Encoding": "gzip"}, chunks=gigabyte_of_zeros_gzipped()
    )
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=r"larger than 1,000,000 bytes"):
            fetcher.get(http_server.url("/bomb"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    # A network read inflates a thousandfold (64 KB to 64 MB): only what the cap allows may be.
    assert peak < 5 * fetcher.max_bytes


def test_a_body_exactly_at_the_cap_is_accepted(http_server: HttpServer, fetcher: Fetcher) -> None:
    http_server.routes["/full"] = Reply(b"x" * 1_000_000)

    fetched = fetcher.get(http_server.url("/full"))

    assert fetched is not None
    assert len(fetched.body) == 1_000_000


def test_a_redirect_without_a_location_is_an_error(
    http_server: HttpServer, fetcher: Fetcher
) -> None:
    http_server.routes["/moved"] = Reply(b"<html>moved</html>", status=302)

    with pytest.raises(FetchError, match=r"HTTP 302 Found$"):
        fetcher.get(http_server.url("/moved"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://[::1/feed", "InvalidURL"),
        ("ftp://files.example/feed.xml", "UnsupportedProtocol"),
        (f"http://127.0.0.1:{free_port()}/feed", "ConnectError"),
    ],
    ids=["invalid-url", "unsupported-protocol", "refused"],  # the same in every xdist worker
)
def test_unusable_addresses_are_fetch_errors_naming_the_url(
    fetcher: Fetcher, url: str, expected: str
) -> None:
    with pytest.raises(SourceError) as caught:
        fetcher.get(url)

    assert isinstance(caught.value, FetchError)
    assert str(caught.value).startswith(f"{url}: {expected}")
