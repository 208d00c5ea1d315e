"""Signed, expiring links that acknowledge or resolve an alert from its email.

A link is ``{base}/alerts/{id}/{action}?expires={unix time}&sig={signature}``, the signature
being HMAC-SHA256 over the alert id, the action and the expiry with the secret from the
environment variable ``[web] secret_env`` names. Changing any part breaks the signature.
A link acts at most once because the alert's state moves on (see storage.alert_history).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlencode

from monitor.config.settings import WebSettings

ACTIONS = ("ack", "resolve")
MIN_SECRET_LENGTH = 32
_CONTEXT = b"harken-alert-link-v1"  # so these signatures mean nothing anywhere else


class LinkCheck(enum.Enum):
    """What a link's signature and expiry say."""

    VALID = "valid"
    FORGED = "forged"  # not signed with our secret, or altered since
    EXPIRED = "expired"


class Links:
    """Makes and checks alert links; holds the secret and never shows it."""

    def __init__(self, secret: str, base_url: str, ttl: timedelta) -> None:
        self._key = hmac.new(_CONTEXT, secret.encode(), hashlib.sha256).digest()
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl

    def __repr__(self) -> str:
        return f"Links(base_url={self.base_url!r}, ttl={self.ttl})"

    def signature(self, alert_id: int, action: str, expires: int) -> str:
        message = f"{alert_id}\n{action}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def path(self, alert_id: int, action: str, now: datetime) -> str:
        """The link's path and query, valid for ``ttl`` from ``now``."""
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}; expected one of {ACTIONS}")
        expires = int((now + self.ttl).timestamp())
        query = urlencode({"expires": expires, "sig": self.signature(alert_id, action, expires)})
        return f"/alerts/{alert_id}/{action}?{query}"

    def url(self, alert_id: int, action: str, now: datetime) -> str:
        return self.base_url + self.path(alert_id, action, now)

    def check(
        self, alert_id: int, action: str, expires: int, signature: str, now: datetime
    ) -> LinkCheck:
        """Forged before expired: an altered expiry must not pass as merely old."""
        expected = self.signature(alert_id, action, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return LinkCheck.FORGED
        if now.timestamp() >= expires:
            return LinkCheck.EXPIRED
        return LinkCheck.VALID


def configured_links(
    web: WebSettings, environ: Mapping[str, str] = os.environ
) -> tuple[Links | None, str | None]:
    """The links the config asks for, or None and why not (None, None when it asks for none)."""
    base = web.link_base
    if not base:
        return None, None
    secret = environ.get(web.secret_env, "") if web.secret_env else ""
    if not secret:
        where = (
            f"the environment variable {web.secret_env} is not set"
            if web.secret_env
            else "[web] secret_env names no environment variable"
        )
        return None, (
            f"alert emails carry no acknowledge links and the link endpoint is off: {where}; "
            f'put a random string of {MIN_SECRET_LENGTH}+ characters in it, e.g. from: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    if len(secret) < MIN_SECRET_LENGTH:
        return None, (
            f"alert emails carry no acknowledge links and the link endpoint is off: "
            f"{web.secret_env} holds fewer than {MIN_SECRET_LENGTH} characters, too short to sign links safely"
        )
    return Links(secret, base, web.link_ttl), None
