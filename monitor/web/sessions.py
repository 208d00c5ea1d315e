"""Signed session cookies and the CSRF token each carries.

A cookie is ``base64(json payload).signature``, the signature HMAC-SHA256 with a key derived
from the web secret (``[web] secret_env``, as alert links use) under its own context, so a
link signature is no cookie signature. The payload names the user, when their password last
changed (so ``harken users passwd`` signs out every session of theirs), when it expires and a
random CSRF token. Nothing is kept on the server: any ``harken web`` process with the same
secret reads any session. Even a visitor who has not signed in gets one (no user), so the
sign-in form has a CSRF token too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

COOKIE = "harken_session"
LIFETIME = timedelta(hours=12)  # a shift, so a stolen laptop's session does not last for ever
_CONTEXT = b"harken-web-session-v1"


@dataclass(frozen=True)
class Session:
    """What a valid cookie says."""

    user: str | None  # None: not signed in
    password_changed: float  # the user's password_changed_at, as a Unix time
    expires: float
    csrf: str


class SessionSigner:
    """Makes and reads session cookies; holds the key and never shows it."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(_CONTEXT, secret.encode(), hashlib.sha256).digest()

    def __repr__(self) -> str:
        return "SessionSigner()"

    def new(self, user: str | None, password_changed: datetime | None, now: datetime) -> Session:
        """A fresh session with a fresh CSRF token (a new one at sign-in defeats fixation)."""
        changed = password_changed.timestamp() if password_changed is not None else 0.0
        expires = (now + LIFETIME).timestamp()
        return Session(user, changed, expires, secrets.token_urlsafe(24))

    def dump(self, session: Session) -> str:
        payload = json.dumps(
            {
                "u": session.user,
                "p": session.password_changed,
                "e": session.expires,
                "c": session.csrf,
            },
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{body}.{self._sign(body)}"

    def load(self, cookie: str, now: datetime) -> Session | None:
        """The session a cookie holds; None if it is forged, altered, malformed or expired."""
        body, _, signature = cookie.partition(".")
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(
                user=data["u"] if isinstance(data["u"], str) else None,
                password_changed=float(data["p"]),
                expires=float(data["e"]),
                csrf=str(data["c"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if now.timestamp() < session.expires else None

    def _sign(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def same_token(expected: str, given: str) -> bool:
    """Constant-time comparison, so timing says nothing about how much of a guess was right."""
    return bool(given) and hmac.compare_digest(expected.encode(), given.encode())
