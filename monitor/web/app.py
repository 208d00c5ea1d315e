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
from monitor.web.link_pages import NOT_A_LINK, LinkEndpoint
from monitor.web.links import page_response
from monitor.web.links import routes as link_routes
from monitor.web.ops import Ops
from monitor.web.ops import routes as ops_routes
from monitor.web.sessions import COOKIE, LIFETIME, SessionSigner

if TYPE_CHECKING:
    from monitor.alerts.links import Links
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

    def __init__(self, app: ASGIApp, signer: SessionSigner | None) -> None:
        self.app = app
        self.signer = signer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                # A route's own header wins: the alert link pages have a stricter referrer
                # policy and a CSP of their own, and two CSPs would each be enforced.
                given = {name.lower() for name, _value in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in given]
                session = scope.get("harken.set_session")
                if session is not None and self.signer is not None:
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


async def _not_a_link(request: Request, exc: Exception) -> Response:
    return page_response(NOT_A_LINK)


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
    secret: str | None,
    *,
    now: Callable[[], datetime],
    timezone: str = "UTC",
    sources: tuple[str, ...] = (),
    links: Links | None = None,
    ops: Ops | None = None,
) -> ASGIApp:
    """The inbox over ``storage``, its sessions signed with ``secret``; the alert links
    ``links`` signs; ``/healthz`` and ``/metrics`` when given ``ops``.

    Without a ``secret`` there is no inbox: only ``/healthz`` and ``/metrics`` answer, and
    every other address is 404, as the daemon's endpoint always answered without one.
    """
    endpoint = LinkEndpoint(storage, links, now, timezone) if links is not None else None
    extra = [*(ops_routes(ops) if ops is not None else [])]
    if secret is None:
        app = Starlette(
            routes=[*link_routes(endpoint, None), *extra],
            exception_handlers={404: _not_a_link},
        )
        return _Headers(app, None)
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
        *link_routes(endpoint, views.answer),
        Route("/login", views.login_form),
        Route("/login", views.sign_in, methods=["POST"]),
        Route("/logout", views.sign_out, methods=["POST"]),
        *labels.routes,
        *extra,
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
