"""The routes: each parses its request, calls Storage, renders one template. Who may call
which is said by its ``auth.page`` / ``auth.action`` wrapper."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from monitor.alerts.history import NAME_LIMIT, NOTE_LIMIT, clean_text
from monitor.errors import SearchError
from monitor.web import auth, labels
from monitor.web.filters import PERIODS, SENTIMENTS, SEVERITIES, STATES, read_filters
from monitor.web.passwords import check_password

if TYPE_CHECKING:
    from monitor.storage import User

log = logging.getLogger("harken.web")

PAGE_SIZE = 50
# Five wrong passwords for one name from one address within 15 minutes, and that pair is
# refused until the oldest of them is 15 minutes old: slow enough to stop guessing, short
# enough that a person who mistyped waits a coffee, not a ticket. Per name *and* address, so
# someone guessing cannot lock a colleague out from elsewhere.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)


@auth.page(auth.READ)
async def inbox(request: Request) -> Response:
    ctx = auth.context(request)
    filters = read_filters(request.query_params)
    problem = None
    found = []
    try:
        query = filters.query(ctx.now(), ctx.timezone)
        found = await run_in_threadpool(ctx.storage.find_mentions, query, PAGE_SIZE + 1)
    except (SearchError, ValueError) as error:
        problem = str(error)
    older = filters.page_after(found[PAGE_SIZE - 1].id) if len(found) > PAGE_SIZE else None
    shown = [m.id for m in found[:PAGE_SIZE]]
    not_ours = await run_in_threadpool(ctx.storage.not_ours_among, shown)
    return ctx.render(
        request,
        "inbox.html.j2",
        {
            "mentions": found[:PAGE_SIZE],
            "not_ours": not_ours,
            "filters": filters.values,
            "older": older,
            "paged": filters.before is not None,
            "problem": problem,
            "periods": PERIODS,
            "severities": SEVERITIES,
            "sentiments": SENTIMENTS,
            "states": STATES,
            "sources": ctx.sources,
        },
    )


@auth.page(auth.READ)
async def mention(request: Request) -> Response:
    ctx = auth.context(request)
    mention_id = int(request.path_params["mention_id"])

    def read() -> tuple[object, list[object], list[tuple[object, list[object]]]]:
        found = ctx.storage.mention(mention_id)
        if found is None:
            return None, [], []
        alerts: list[tuple[object, list[object]]] = []
        for alert_id in ctx.storage.mention_alert_ids(mention_id):
            status = ctx.storage.alert_status(alert_id)
            if status is not None:
                alerts.append((status, list(ctx.storage.alert_events(alert_id))))
        return found, list(ctx.storage.sightings(mention_id)), alerts

    found, sightings, alerts = await run_in_threadpool(read)
    if found is None:
        return ctx.render(
            request, "error.html.j2", {"why": f"There is no mention {mention_id}."}, 404
        )
    corrections = labels.panel(await run_in_threadpool(ctx.storage.labels, mention_id))
    return ctx.render(
        request,
        "mention.html.j2",
        {"mention": found, "sightings": sightings, "alerts": alerts, **corrections},
    )


@auth.action(auth.ANSWER)
async def answer(request: Request) -> Response:
    """Acknowledge or resolve an alert, as `harken alerts ack/resolve` do, then show its
    mention again."""
    ctx = auth.context(request)
    alert_id = int(request.path_params["alert_id"])
    verb = request.path_params["verb"]
    _session, user = await auth.current(request)
    assert user is not None  # auth.action(ANSWER) let only a signed-in user through
    form = await request.form()
    who = clean_text(user.name, NAME_LIMIT)
    now = ctx.now()
    if verb == "ack":
        change = await run_in_threadpool(
            lambda: ctx.storage.acknowledge_alert(alert_id, now, who=who, via="web")
        )
    elif verb == "resolve":
        note = form.get("note")
        text = clean_text(note if isinstance(note, str) else "", NOTE_LIMIT)
        if not text:
            why = "Say what was done in the note: an alert is resolved with a note."
            return ctx.render(request, "error.html.j2", {"why": why}, 400)
        change = await run_in_threadpool(
            lambda: ctx.storage.resolve_alert(alert_id, now, who=who, via="web", note=text)
        )
    else:
        return ctx.render(request, "error.html.j2", {"why": "No such action."}, 404)
    if change is None:
        return ctx.render(request, "error.html.j2", {"why": f"There is no alert {alert_id}."}, 404)
    mention_id = await run_in_threadpool(ctx.storage.alert_mention, alert_id)
    log.info("web: %s %s alert %d", who, "acknowledged" if verb == "ack" else "resolved", alert_id)
    return RedirectResponse(f"/mentions/{mention_id}#alert-{alert_id}", status_code=303)


async def login_form(request: Request) -> Response:
    await auth.current(request)  # a session, so the form has a CSRF token
    next_ = auth.local_target(request.query_params.get("next"))
    return auth.context(request).render(request, "login.html.j2", {"next": next_, "problem": None})


@auth.action(None)
async def sign_in(request: Request) -> Response:
    ctx = auth.context(request)
    form = await request.form()
    name = str(form.get("name") or "").strip()[:100]
    password = str(form.get("password") or "")
    next_ = auth.local_target(form.get("next"))
    address = request.client.host if request.client else "unknown"
    now = ctx.now()

    def attempt() -> tuple[str, User | None, int]:
        """(outcome, the user signed in, failures counted including this one)."""
        failures = ctx.storage.sign_in_failures(name, address, now - FAILURE_WINDOW)
        if failures >= MAX_FAILURES:
            return "limited", None, failures
        user = ctx.storage.user(name)
        if check_password(user.password_hash if user else None, password) and user is not None:
            ctx.storage.clear_sign_in_failures(name, address)
            return "ok", user, 0
        ctx.storage.record_sign_in_failure(name, address, now, now - FAILURE_WINDOW)
        return ("wrong password" if user else "no such user"), None, failures + 1

    outcome, user, failures = await run_in_threadpool(attempt)
    if user is not None:
        auth.start_session(request, user)
        log.info("web: %s signed in from %s", name, address)
        return RedirectResponse(next_, status_code=303)
    # The log names who and from where, never what was typed as the password.
    if outcome == "limited":
        log.warning(
            "web: sign-in as %r from %s refused: %d failures in %d minutes, try later",
            name,
            address,
            MAX_FAILURES,
            FAILURE_WINDOW.seconds // 60,
        )
        problem = f"Too many failed sign-ins. Try again in {FAILURE_WINDOW.seconds // 60} minutes."
        status = 429
    else:
        log.warning(
            "web: sign-in as %r from %s refused: %s (%d of %d)",
            name,
            address,
            outcome,
            failures,
            MAX_FAILURES,
        )
        problem = "Wrong name or password."
        status = 401
    return ctx.render(request, "login.html.j2", {"next": next_, "problem": problem}, status)


@auth.action(None)
async def sign_out(request: Request) -> Response:
    auth.end_session(request)
    return RedirectResponse("/login", status_code=303)
