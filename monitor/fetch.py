"""HTTP fetching for sources: conditional GETs, timeouts and a size cap, errors made plain."""

from __future__ import annotations

import email.utils
import json
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from monitor.errors import AccessDenied, BadPayload, FetchError, RateLimited, SourceGone
from monitor.transport import Deadline, DeadlineTransport

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
        self._deadline = Deadline()
        self._client = httpx.Client(
            transport=DeadlineTransport(self._deadline),
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
                    # A 304 has no body, but httpcore hands the connection back to the pool
                    # only once the response is read to its end; closed unread, it is dropped,
                    # and a warm cycle would open a connection per feed.
                    response.read()
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
