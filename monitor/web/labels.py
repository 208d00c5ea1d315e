"""Correcting verdicts on the web: the label form's route, and the quality page that counts
how often people agreed with Harken, per ISO week and kind of correction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from monitor.alerts.history import NAME_LIMIT, NOTE_LIMIT, clean_text
from monitor.storage import KINDS, Label
from monitor.web import auth

log = logging.getLogger("harken.web")

QUALITY_WEEKS = 26  # half a year: enough to see a trend, short enough to read at a glance
# How the forms and pages name a value; values not here read as themselves.
VALUE_NAMES = {"not_ours": "not about us", "ours": "about us"}
KIND_NAMES = {"relevance": "About us?", "sentiment": "Sentiment", "severity": "Severity"}


@dataclass(frozen=True)
class WeekAgreement:
    """How often people agreed with Harken on one kind of label in one ISO week."""

    week: str  # "2026-W09"
    kind: str
    labels: int
    agreeing: int

    @property
    def percent(self) -> int:
        """Agreement rounded to a whole percent."""
        return round(100 * self.agreeing / self.labels)


def weekly_agreement(labels: Iterable[Label], timezone: str) -> list[WeekAgreement]:
    """Count labels and agreements per ISO week (in the organisation's zone) and kind, newest
    week first, kinds in their usual order."""
    zone = ZoneInfo(timezone)
    counted: Counter[tuple[str, str]] = Counter()
    agreed: Counter[tuple[str, str]] = Counter()
    for label in labels:
        year, week, _day = label.at.astimezone(zone).isocalendar()
        key = (f"{year}-W{week:02d}", label.kind)
        counted[key] += 1
        agreed[key] += label.agrees
    order = list(KINDS)
    keys = sorted(counted, key=lambda key: (key[0], -order.index(key[1])), reverse=True)
    return [
        WeekAgreement(week, kind, counted[week, kind], agreed[week, kind]) for week, kind in keys
    ]


def panel(labels: list[Label]) -> dict[str, object]:
    """What the mention page's corrections need: every label, oldest first, and the current
    one of each kind (the newest)."""
    current = {label.kind: label for label in labels}
    return {
        "labels": labels,
        "current": current,
        "kinds": KINDS,
        "kind_names": KIND_NAMES,
        "value_names": VALUE_NAMES,
    }


@auth.action(auth.CORRECT)
async def correct(request: Request) -> Response:
    """Record a person's label on a mention, then show the mention again."""
    ctx = auth.context(request)
    mention_id = int(request.path_params["mention_id"])
    _session, user = await auth.current(request)
    assert user is not None  # auth.action(CORRECT) let only a signed-in user through
    form = await request.form()
    kind, value, note = (form.get(name) for name in ("kind", "value", "note"))
    if not isinstance(kind, str) or not isinstance(value, str) or value not in KINDS.get(kind, ()):
        return ctx.render(request, "error.html.j2", {"why": "No such correction."}, 400)
    who = clean_text(user.name, NAME_LIMIT)
    text = clean_text(note, NOTE_LIMIT) if isinstance(note, str) else ""
    now = ctx.now()
    label = await run_in_threadpool(
        lambda: ctx.storage.add_label(mention_id, kind, value, who=who, now=now, note=text)
    )
    if label is None:
        why = f"There is no mention {mention_id}."
        return ctx.render(request, "error.html.j2", {"why": why}, 404)
    log.info("web: %s labelled mention %d: %s %s", who, mention_id, kind, value)
    return RedirectResponse(f"/mentions/{mention_id}#labels", status_code=303)


@auth.page(auth.READ)
async def quality(request: Request) -> Response:
    """Agreement of Harken with its people, per week: the current labels of the last weeks."""
    ctx = auth.context(request)
    since = ctx.now() - timedelta(weeks=QUALITY_WEEKS)
    labels = await run_in_threadpool(ctx.storage.current_labels, since)
    rows = weekly_agreement(labels, ctx.timezone)
    values = {"rows": rows, "weeks": QUALITY_WEEKS, "kind_names": KIND_NAMES}
    return ctx.render(request, "quality.html.j2", values)


routes = [
    Route("/mentions/{mention_id:int}/labels", correct, methods=["POST"]),
    Route("/quality", quality),
]
