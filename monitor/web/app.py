"""The web inbox's Starlette app: routes, templates, static files and the headers every
response carries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.web import auth, labels, views
from monitor.web.sessions import COOKIE, LIFETIME, SessionSigner

if TYPE_CHECKING:
    from monitor.storage import Storage

HERE = Path(__file__).parent
SECURITY_HEADERS = [
    # No inline script anywhere, so an injected <script> cannot run even if escaping failed.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        b"form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate it
]


class _Headers:
    """Security headers on every response, and the session cookie when a route set one."""

    def __init__(self, app: ASGIApp, signer: SessionSigner) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *(h for h in message.get("headers", []) if h[0].lower() != b"x-frame-options"),
                    *SECURITY_HEADERS,
                ]
                session = scope.get("harken.set_session")
                if session is not None:
                    headers.append(
                        (b"set-cookie", _cookie(self.signer, scope, session).encode("latin-1"))
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(signer: SessionSigner, scope: Scope, session: Any) -> str:
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    max_age = int(LIFETIME.total_seconds())
    return f"{COOKIE}={signer.dump(session)}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def _environment(timezone: str) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every template: mention text is hostile
        undefined=jinja2.StrictUndefined,
    )
    zone = ZoneInfo(timezone)
    environment.filters["when"] = lambda moment: (
        moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""
    )
    environment.filters["web_link"] = _web_link
    return environment


def _web_link(url: str) -> str | None:
    """``url`` if it is an http(s) address, else None: a javascript: or data: address in a
    mention must never become a link."""
    if url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url):
        return url
    return None


def create_app(
    storage: Storage,
    secret: str,
    *,
    now: Callable[[], datetime],
    timezone: str = "UTC",
    sources: tuple[str, ...] = (),
) -> ASGIApp:
    """The inbox over ``storage``, its sessions signed with ``secret``."""
    environment = _environment(timezone)

    def render(
        request: Request, template: str, values: dict[str, Any], status_code: int = 200
    ) -> Response:
        session, user = request.scope.get("harken.session") or (None, None)
        page = environment.get_template(template).render(
            user=user,
            csrf=session.csrf if session is not None else "",
            may=lambda permission: auth.may(user, permission),
            **values,
        )
        headers = {"cache-control": "no-store"}  # pages hold mentions and a CSRF token
        return HTMLResponse(page, status_code=status_code, headers=headers)

    routes = [
        Route("/", views.inbox),
        Route("/mentions/{mention_id:int}", views.mention),
        Route("/alerts/{alert_id:int}/{verb:str}", views.answer, methods=["POST"]),
        Route("/login", views.login_form),
        Route("/login", views.sign_in, methods=["POST"]),
        Route("/logout", views.sign_out, methods=["POST"]),
        Route("/healthz", views.healthz),
        *labels.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    signer = SessionSigner(secret)
    app.state.context = auth.Context(
        storage=storage,
        signer=signer,
        now=now,
        timezone=timezone,
        sources=sources,
        render=render,
    )
    return _Headers(app, signer)
