"""HTTP fetching for sources: conditional GETs, timeouts and a size cap, errors made plain."""

from __future__ import annotations

import email.utils
import json
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpcore
import httpx

from monitor.errors import AccessDenied, BadPayload, FetchError, RateLimited, SourceGone

USER_AGENT = "Harken/0.1 (+https://github.com/harken-monitor/harken; brand monitoring)"


@dataclass(frozen=True)
class Fetched:
    """A successful response body with the validators to send next time."""

    url: str  # after redirects
    moved_to: str | None  # the new address, when a redirect on the way was permanent (301/308)
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


class Fetcher:
    """One shared HTTP client with Harken's limits. ``get`` returns None for 304 Not Modified.

    ``timeout`` bounds the fetch as a whole, redirects included: every wait on the network
    (connecting, sending, each read of the headers or the body) ends once ``timeout`` has passed
    since the request began, so a server dripping a byte a second is cut off on time.
    ``max_bytes`` bounds the body after decompression, which is done a bounded piece at a time.
    """

    def __init__(
        self,
        timeout: float = 20.0,
        max_bytes: int = 10_000_000,
        user_agent: str = USER_AGENT,
        max_redirects: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.clock = clock  # wall time, for rate-limit reset times given as dates
        self._deadline = _Deadline()
        self._client = httpx.Client(
            transport=_transport_with_deadline(self._deadline),
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=max_redirects,
            # Only what _Decoder can undo with a cap on its output.
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        )

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fetched | None:
        """GET ``url``; None when the server says nothing changed since the validators."""
        headers = dict(headers or {})
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        self._deadline.at = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url, headers=headers, params=params) as response:
                if response.status_code == 304:
                    return None
                raise_for_status(
                    url,
                    response.status_code,
                    response.reason_phrase,
                    response.headers,
                    self.clock(),
                )
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(self._too_large(url))
                decoder = _Decoder(url, response.headers.get("Content-Encoding", ""))
                body = self._read_capped(url, response.iter_raw(), decoder)
                moved = [r for r in response.history if r.status_code in (301, 308)]
                return Fetched(
                    url=str(response.url),
                    moved_to=str(response.url) if moved else None,
                    body=body,
                    content_type=response.headers.get("Content-Type", ""),
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                )
        except httpx.TimeoutException:
            raise FetchError(self._timed_out(url)) from None
        except httpx.TooManyRedirects:
            raise FetchError(
                f"{url}: too many redirects (more than {self._client.max_redirects}); the server may be redirecting in a loop"
            ) from None
        # InvalidURL (e.g. "http://[::1") is not an HTTPError, but it is still this URL's fault.
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as error:
            raise FetchError(f"{url}: {type(error).__name__}: {error}") from None
        finally:
            self._deadline.at = None

    def _read_capped(self, url: str, raw: Iterable[bytes], decoder: _Decoder) -> bytes:
        body = bytearray()
        for chunk in raw:
            # One byte past the cap is enough to know the body is too large.
            body += decoder.decode(chunk, self.max_bytes - len(body) + 1)
            if len(body) > self.max_bytes:
                raise FetchError(self._too_large(url))
        return bytes(body)

    def get_json(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """GET a JSON API; BadPayload when the body is not JSON."""
        fetched = self.get(
            url, params=params, headers={"Accept": "application/json", **(headers or {})}
        )
        if fetched is None:  # no validators were sent, so a 304 means a broken server
            raise BadPayload(f"{url}: answered 304 Not Modified to an unconditional request")
        try:
            return json.loads(fetched.body)
        except ValueError as error:
            raise BadPayload(f"{url}: malformed JSON ({error})") from None

    def _timed_out(self, url: str) -> str:
        return f"{url}: timed out after {self.timeout:g}s (raise [http] timeout to wait longer)"

    def _too_large(self, url: str) -> str:
        return f"{url}: response larger than {self.max_bytes:,} bytes; not read (raise [http] max_bytes to allow it)"


class _Decoder:
    """Undoes a Content-Encoding, each piece's output capped.

    httpx inflates a whole network read at once, and 64 KB of a gzip bomb is 64 MB; zlib's
    ``max_length`` stops a piece at what the size cap could still take.
    """

    def __init__(self, url: str, encoding: str) -> None:
        self.url = url
        self.encoding = encoding.strip().lower()
        if self.encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchError(
                f"{url}: the body came in {encoding!r} encoding, which Harken did not ask for and cannot read"
            )
        compressed = self.encoding not in ("", "identity")
        # MAX_WBITS | 32: zlib tells the gzip and zlib headers apart itself.
        self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32) if compressed else None
        self._started = False

    def decode(self, data: bytes, max_length: int) -> bytes:
        """``data`` decoded, at most ``max_length`` bytes of it."""
        if self._inflater is None:
            return data
        try:
            decoded = self._inflater.decompress(data, max_length)
        except zlib.error as error:
            if self.encoding == "deflate" and not self._started:
                # Some servers send "deflate" as a bare stream, without the zlib header.
                self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                self._started = True
                return self.decode(data, max_length)
            raise FetchError(f"{self.url}: the {self.encoding} body is corrupt: {error}") from None
        self._started = True
        return decoded


class _Deadline(threading.local):
    """When the fetch under way in this thread must be over (time.monotonic), if one is."""

    at: float | None = None

    def clamp(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """``timeout`` shortened to the time left; ``expired`` raised when none is."""
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise expired("the fetch ran out of time")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends at the deadline of the fetch using it."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: _Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, wait), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: _Deadline) -> None:
        self._backend = httpcore.SyncBackend()
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        wait = self._deadline.clamp(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_unix_socket(path, wait, socket_options)
        return _DeadlineStream(stream, self._deadline)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _transport_with_deadline(deadline: _Deadline) -> httpx.HTTPTransport:
    """httpx's transport, its sockets' waits cut at ``deadline``.

    httpx has per-read timeouts only, and a server sending its headers a byte a second never
    trips one. httpx takes no network backend, but the httpcore pool under it does.
    """
    transport = httpx.HTTPTransport()
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's own
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=_DeadlineBackend(deadline),
    )
    return transport


def raise_for_status(
    url: str, status: int, reason: str, headers: Mapping[str, str], now: float | None = None
) -> None:
    """Turn an HTTP error status into the SourceError that says what to do about it.

    Shared by every source, including those whose platform library makes the request.
    """
    if status < 300:
        return
    where = f"{url}: HTTP {status} {reason}".rstrip()
    if status in (401, 403):
        raise AccessDenied(
            f"{where}: the platform refused our credentials; check the token or key in the environment"
        )
    if status == 410:
        raise SourceGone(f"{where}: the platform retired this address; update the source's config")
    if status == 429:
        wait = retry_after_seconds(headers, now)
        raise RateLimited(f"{where}: rate limited; waiting {wait:g}s as the platform asks", wait)
    # A 3xx that got here was not followed (no Location): its body is not what we asked for.
    raise FetchError(where)


DEFAULT_RATE_LIMIT_WAIT = 60.0


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float:
    """How long a 429 asks us to wait: Retry-After (seconds or a date) or a reset time."""
    now = time.time() if now is None else now
    lowered = {name.lower(): value.strip() for name, value in headers.items()}
    retry_after = lowered.get("retry-after", "")
    if retry_after:
        if retry_after.isdigit():
            return float(retry_after)
        try:
            return max(email.utils.parsedate_to_datetime(retry_after).timestamp() - now, 0.0)
        except (TypeError, ValueError):
            pass
    for name in ("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset"):
        value = lowered.get(name, "")
        if not value:
            continue
        try:
            number = float(value)
        except ValueError:
            # Mastodon sends an ISO 8601 time.
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return max(moment.timestamp() - now, 0.0)
        # X sends an epoch time; the IETF draft and others send seconds from now.
        return max(number - now, 0.0) if number > 1_000_000_000 else number
    return DEFAULT_RATE_LIMIT_WAIT
