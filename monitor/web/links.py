"""The links in alert emails as routes of the app: ``/alerts/ID/ack|resolve?expires=…&sig=…``.

A signed link is its own credential: it needs no sign-in and carries no session, so the
session's CSRF token does not apply. What protects its POST is the same signature: a page on
another site cannot make one without the secret, and the link never leaves the page it is on
(``Referrer-Policy: no-referrer``). The pages themselves are monitor.web.link_pages.

The inbox posts its own acknowledge and resolve buttons to the same paths without a signature;
those go to ``inbox_answer``, which checks the session and its CSRF token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.web.link_pages import NOT_A_LINK, PAGE_HEADERS, LinkEndpoint, Page, render

log = logging.getLogger("harken.web")

MAX_BODY = 16_384  # bytes of a submitted form
Endpoint = Callable[[Request], Awaitable[Response]]


def page_response(page: Page, extra: dict[str, str] | None = None) -> Response:
    """A link page with the headers every link page carries."""
    headers = {key: value for key, value in PAGE_HEADERS.items() if key != "Content-Type"}
    media_type = PAGE_HEADERS["Content-Type"]
    return Response(render(page), page.status, {**headers, **(extra or {})}, media_type)


def routes(links: LinkEndpoint | None, inbox_answer: Endpoint | None) -> list[Route]:
    """The alert link route; ``links`` None (no link secret) answers every link 404."""

    async def answer(request: Request) -> Response:
        signed = "sig" in request.query_params or "expires" in request.query_params
        if request.method == "POST" and not signed:
            if inbox_answer is not None and request.path_params["alert_id"].isdigit():
                return await inbox_answer(request)
            return page_response(NOT_A_LINK)
        response = await _link(request, links)
        # The path only: the query holds the link's signature.
        log.debug("web: %s %s -> %d", request.method, request.url.path, response.status_code)
        return response

    return [Route("/alerts/{alert_id}/{verb}", answer, methods=["GET", "POST"])]


async def _link(request: Request, links: LinkEndpoint | None) -> Response:
    if links is None:
        return page_response(NOT_A_LINK)
    form: dict[str, str] = {}
    if request.method == "POST":
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            too_much = Page.message(413, "Too much", "That form is too large.")
            return page_response(too_much, {"Connection": "close"})
        raw = (await request.body()).decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(raw).items()}
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # GET and HEAD only show; the storage calls are blocking, so in a thread.
    method = "POST" if request.method == "POST" else "GET"
    page = await run_in_threadpool(links.answer, method, target, form)
    return page_response(page)
