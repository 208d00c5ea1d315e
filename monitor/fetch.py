"""HTTP fetching for sources: conditional GETs, timeouts and a size cap, errors made plain."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from monitor.errors import FetchError

USER_AGENT = "Harken/0.1 (+https://github.com/harken-monitor/harken; brand monitoring)"


@dataclass(frozen=True)
class Fetched:
    """A successful response body with the validators to send next time."""

    url: str  # after redirects
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None


class Fetcher:
    """One shared HTTP client with Harken's limits. ``get`` returns None for 304 Not Modified.

    ``timeout`` bounds each wait (connecting, each read) and the fetch as a whole: a server that
    drips its body a byte at a time is cut off once ``timeout`` has passed since the request began
    (checked as data arrives, so at worst one more read's wait later).
    """

    def __init__(
        self,
        timeout: float = 20.0,
        max_bytes: int = 10_000_000,
        user_agent: str = USER_AGENT,
        max_redirects: int = 5,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            max_redirects=max_redirects,
            headers={"User-Agent": user_agent},
        )

    def close(self) -> None:
        self._client.close()

    def get(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched | None:
        """GET ``url``; None when the server says nothing changed since the validators."""
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        # httpx's timeouts are per read; the deadline is what stops a slow drip.
        deadline = time.monotonic() + self.timeout
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 304:
                    return None
                # A 3xx that got here was not followed (no Location): its body is no feed either.
                if not response.is_success:
                    raise FetchError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise FetchError(self._too_large(url))
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise FetchError(self._too_large(url))
                    if time.monotonic() > deadline:
                        raise FetchError(self._timed_out(url))
                return Fetched(
                    url=str(response.url),
                    body=bytes(body),
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

    def _timed_out(self, url: str) -> str:
        return f"{url}: timed out after {self.timeout:g}s (raise [http] timeout to wait longer)"

    def _too_large(self, url: str) -> str:
        return f"{url}: response larger than {self.max_bytes:,} bytes; not read (raise [http] max_bytes to allow it)"
