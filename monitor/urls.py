"""One key per story: the same article reached through two sources has one canonical URL."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that say how a reader arrived, never which page they reached.
_TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")
_TRACKING_PARAMETERS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "ref",
        "ref_src",
        "ref_url",
        "cmpid",
        "ncid",
        "sr_share",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_UNWRAP = 3  # a redirect wrapping a redirect wrapping… stops somewhere


def unwrap_redirect(url: str) -> str:
    """The page a Google redirect link (as in Google Alerts feeds) points at; others unchanged."""
    for _ in range(_MAX_UNWRAP):
        parts = _split(url)
        target = _redirect_target(parts[0], parts[2], parts[3]) if parts else None
        if target is None:
            return url
        url = target
    return url


def canonical_url(url: str) -> str:
    """The URL reduced to what names the page, or "" when it is empty or not http(s).

    Lower-case scheme and host, no ``www.``, https for http, no fragment, no tracking
    parameters, the rest of the query sorted, no trailing slash, and Google's redirect links
    (``https://www.google.com/url?url=TARGET``, as in Google Alerts feeds) unwrapped.
    ``news.google.com/rss/articles/…`` links hide their target and stay as they are.
    """
    for _ in range(_MAX_UNWRAP + 1):
        parts = _split(url)
        if parts is None:
            return ""
        host, port, path, query = parts
        target = _redirect_target(host, path, query)
        if target is None:
            break
        url = target
    pairs = sorted((key, value) for key, value in query if not _is_tracking(key))
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit(("https", netloc, path.rstrip("/"), urlencode(pairs), ""))


def _split(url: str) -> tuple[str, int | None, str, list[tuple[str, str]]] | None:
    """Host (lower-case, no ``www.``), explicit non-default port, path and query pairs."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a bad port or an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    host = host.removeprefix("www.")
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    if ":" in host:  # IPv6 literal: urlsplit drops its brackets
        host = f"[{host}]"
    return host, port, parts.path, parse_qsl(parts.query, keep_blank_values=True)


def _redirect_target(host: str, path: str, query: list[tuple[str, str]]) -> str | None:
    """Where a known redirect link points, if it says so in its own query."""
    if not (_is_google(host) and path == "/url"):
        return None
    values = dict(query)
    for key in ("url", "q"):
        target = values.get(key, "")
        if _split(target) is not None:
            return target
    return None


def _is_google(host: str) -> bool:
    # google.com, google.de, google.co.uk, google.com.au; not news.google.com, google.evil.com
    first, _, suffix = host.partition(".")
    labels = suffix.split(".")
    if first != "google":
        return False
    if len(labels) == 1:
        return labels[0] == "com" or len(labels[0]) == 2
    return len(labels) == 2 and labels[0] in {"co", "com"} and len(labels[1]) == 2


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in _TRACKING_PARAMETERS or lowered.startswith(_TRACKING_PREFIXES)


# Credentials people write into feed URLs: the userinfo of "https://user:pass@host/", and query
# values whose names say key, token, secret, signature or password ("?apikey=…", "&sig=…").
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)[^/?#\s@]+@", re.IGNORECASE)
_SECRET_QUERY = re.compile(
    r"([?&;][\w.-]*?(?:key|token|secret|sig|signature|password|passwd|pwd|auth|credential)s?"
    r"[\w.-]*=)[^&#\s'\"<>]+?(?=[&#\s'\"<>]|:\s|$)",
    re.IGNORECASE | re.MULTILINE,
)


def without_credentials(text: str) -> str:
    """``text`` with every URL's userinfo and key-like query values replaced by ``***``.

    For anything shown or stored for display: logs, ``/healthz``, source health, alert emails.
    """
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
