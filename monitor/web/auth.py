"""Who may do what, decided here and nowhere else; sessions attached to requests; CSRF.

Every route is wrapped in ``page`` (GET: signed-in users with the permission) or ``action``
(POST: the same, plus the session's CSRF token in the form's ``csrf`` field). A visitor who has
not signed in is sent to /login from a page and refused (403) an action.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.web.sessions import Session, SessionSigner, same_token

if TYPE_CHECKING:
    from monitor.storage import Storage, User

log = logging.getLogger("harken.web")

READ, ANSWER = "read", "answer"  # see mentions; acknowledge and resolve alerts
CORRECT = "correct"  # label a verdict wrong: not ours, another sentiment or severity
PERMISSIONS = {
    "admin": frozenset({READ, ANSWER, CORRECT}),
    "responder": frozenset({READ, ANSWER, CORRECT}),
    "viewer": frozenset({READ}),
}

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Context:
    """What the app's routes share: storage, the session signer, the clock, the org's zone."""

    storage: Storage
    signer: SessionSigner
    now: Callable[[], datetime]
    timezone: str
    sources: tuple[str, ...]
    render: Callable[..., Response]


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


def may(user: User | None, permission: str) -> bool:
    """Whether ``user`` holds ``permission``; templates ask this too, to hide buttons."""
    return user is not None and permission in PERMISSIONS.get(user.role, frozenset())


async def current(request: Request) -> tuple[Session, User | None]:
    """The request's session (a fresh anonymous one if its cookie is missing or bad) and its
    signed-in user, who must still exist with the password the session was signed in with."""
    cached = request.scope.get("harken.session")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    ctx = context(request)
    now = ctx.now()
    session = ctx.signer.load(request.cookies.get("harken_session", ""), now)
    user = None
    if session is not None and session.user is not None:
        user = await run_in_threadpool(ctx.storage.user, session.user)
        if user is None or user.password_changed_at.timestamp() != session.password_changed:
            session, user = None, None  # removed, or signed out by a password change
    if session is None:
        session = ctx.signer.new(None, None, now)
        request.scope["harken.set_session"] = session
    request.scope["harken.session"] = (session, user)
    return session, user


def start_session(request: Request, user: User) -> None:
    """Sign ``user`` in: a new session, with a new CSRF token, replaces the old one."""
    ctx = context(request)
    session = ctx.signer.new(user.name, user.password_changed_at, ctx.now())
    request.scope["harken.set_session"] = session
    request.scope["harken.session"] = (session, user)


def end_session(request: Request) -> None:
    ctx = context(request)
    session = ctx.signer.new(None, None, ctx.now())
    request.scope["harken.set_session"] = session
    request.scope["harken.session"] = (session, None)


def page(permission: str) -> Callable[[Endpoint], Endpoint]:
    """A GET route for signed-in users holding ``permission``."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            _session, user = await current(request)
            if user is None:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
            if not may(user, permission):
                return refuse(request, "Your role may not see this page.")
            return await endpoint(request)

        return guarded

    return wrap


def action(permission: str | None) -> Callable[[Endpoint], Endpoint]:
    """A POST route: the CSRF token must match, and (unless None) the user hold ``permission``."""

    def wrap(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            session, user = await current(request)
            form = await request.form()
            token = form.get("csrf")
            if not same_token(session.csrf, token if isinstance(token, str) else ""):
                log.warning(
                    "web: %s %s refused: missing or wrong CSRF token",
                    request.method,
                    request.url.path,
                )
                return refuse(
                    request,
                    "This form is stale or was not sent by Harken's page: reload the page and try again.",
                )
            if permission is not None and not may(user, permission):
                who = user.name if user is not None else "a visitor not signed in"
                log.warning(
                    "web: %s %s refused: %s may not %s",
                    request.method,
                    request.url.path,
                    who,
                    permission,
                )
                return refuse(request, "Your role may not do this.")
            return await endpoint(request)

        return guarded

    return wrap


def refuse(request: Request, why: str) -> Response:
    return context(request).render(request, "error.html.j2", {"why": why}, status_code=403)


def local_target(target: Any) -> str:
    """Where to go after signing in: a path on this site only, never another site's address."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"
