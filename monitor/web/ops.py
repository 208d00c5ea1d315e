"""``/healthz`` and ``/metrics`` as routes of the app.

What they report is the process's business (the daemon knows its scheduler and counters, a
lone ``harken web`` only the database), so whoever starts the app hands it an ``Ops``: the web
package never imports the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class Reply:
    """A plain answer: JSON for ``/healthz``, Prometheus text for ``/metrics``."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] | None = None


class Ops(Protocol):
    """What answers ``/healthz`` and ``/metrics``."""

    def answer(self, path: str, query: Mapping[str, list[str]], authorization: str) -> Reply:
        """The reply to a GET of ``path`` (``/healthz`` or ``/metrics``)."""
        ...


def routes(ops: Ops) -> list[Route]:
    """``GET /healthz`` and ``GET /metrics``, open to anyone (details need a bearer token)."""

    async def answer(request: Request) -> Response:
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        authorization = request.headers.get("authorization", "")
        # Both read the database: in a thread, so a slow read holds up no other request.
        reply = await run_in_threadpool(ops.answer, request.url.path, query, authorization)
        headers = {**_HEADERS, **(reply.headers or {})}
        return Response(reply.body, reply.status, headers, media_type=reply.content_type)

    return [Route("/healthz", answer), Route("/metrics", answer)]
