"""The pages behind the links in alert emails: see an alert, then acknowledge or resolve it.

A GET only shows what the link would do, with a button: mail scanners fetch links to look for
malware, and that must not acknowledge anything. The POST behind the button acts, once: the
alert's state moves on, so a second click is told who answered it and when. Neither pages nor
logs ever show the secret, and logs leave out the links' signatures.

The HTML is in the ``pages/`` templates shipped with the package (Harken's own, not the email
templates people edit), autoescaped: an alert's mention text is hostile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import jinja2

from monitor.alerts.history import (
    NAME_LIMIT,
    NOTE_LIMIT,
    clean_text,
    describe_change,
    describe_state,
    when,
)
from monitor.alerts.links import ACTIONS, LinkCheck, Links
from monitor.errors import HarkenError
from monitor.mail.templates import excerpt
from monitor.storage import AlertStatus
from monitor.storage.alert_history import AlertHistoryStore

log = logging.getLogger("harken.web")

_PATH = re.compile(r"^/alerts/(\d{1,15})/([a-z]+)$")
_VERB = {"ack": "Acknowledge", "resolve": "Resolve"}

PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the signed link must not leak to other sites
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("monitor.web", "pages"),
    autoescape=jinja2.select_autoescape(["html.j2"]),
    undefined=jinja2.StrictUndefined,  # a misspelt name fails a test, not a user's page
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATES.filters.update(excerpt=excerpt, when=when, describe_state=describe_state)


@dataclass(frozen=True)
class Page:
    """An HTML answer: its status, its title and the template in ``pages/`` that draws it."""

    status: int
    title: str
    template: str
    context: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def message(cls, status: int, title: str, text: str) -> Page:
        """A page that says one plain sentence."""
        return cls(status, title, "message.html.j2", {"message": text})


NOT_A_LINK = Page.message(404, "Not a Harken link", "This address is not a link Harken made.")


def render(page: Page) -> bytes:
    """The page's HTML, every outside value escaped."""
    template = _TEMPLATES.get_template(page.template)
    return template.render(page.context, title=page.title).encode()


@dataclass(frozen=True)
class _Link:
    alert_id: int
    action: str


class LinkEndpoint:
    """What the endpoint answers, apart from HTTP itself: easy to reason about, and to test."""

    def __init__(
        self,
        storage: AlertHistoryStore,
        links: Links,
        now: Callable[[], datetime],
        timezone: str = "UTC",
    ) -> None:
        self.storage = storage
        self.links = links
        self.now = now
        self.timezone = timezone

    def answer(self, method: str, target: str, form: dict[str, str]) -> Page:
        """The page for one request; only a POST with a valid link acts."""
        link, refusal = self._check(target)
        if refusal is not None:
            return refusal
        assert link is not None
        try:
            return self._act(link, form) if method == "POST" else self._confirm(link)
        except HarkenError as error:
            log.error("web: alert %d: %s", link.alert_id, error)
            return Page.message(503, "Try again shortly", "Harken could not reach its database.")

    def _check(self, target: str) -> tuple[_Link | None, Page | None]:
        parts = urlsplit(target)
        match = _PATH.match(parts.path)
        query = parse_qs(parts.query)
        expires, signature = query.get("expires", [""])[0], query.get("sig", [""])[0]
        if match is None or match[2] not in ACTIONS or not expires.isdigit() or not signature:
            return None, NOT_A_LINK
        link = _Link(int(match[1]), match[2])
        checked = self.links.check(
            link.alert_id, link.action, int(expires[:12]), signature[:100], self.now()
        )
        if checked is LinkCheck.FORGED:
            return None, Page(
                403, "This link is not valid", "forged.html.j2", {"command": _command(link)}
            )
        if checked is LinkCheck.EXPIRED:
            context = {"action": link.action, "alert_id": link.alert_id, "command": _command(link)}
            return None, Page(410, "This link has expired", "expired.html.j2", context)
        return link, None

    def _confirm(self, link: _Link) -> Page:
        status = self.storage.alert_status(link.alert_id)
        if status is None:
            return _no_alert(link)
        if status.state == "resolved" or (link.action == "ack" and status.state != "open"):
            done = describe_state(status, self.timezone)
            return self._alert_page(200, f"Alert {status.id} was already {done}", status)
        return self._form_page(200, link, status)

    def _act(self, link: _Link, form: dict[str, str]) -> Page:
        who = clean_text(form.get("by", ""), NAME_LIMIT)
        note = clean_text(form.get("note", ""), NOTE_LIMIT)
        missing = (
            "your name" if not who else "a note" if link.action == "resolve" and not note else ""
        )
        if missing:
            status = self.storage.alert_status(link.alert_id)
            if status is None:
                return _no_alert(link)
            return self._form_page(400, link, status, missing)
        now = self.now()
        if link.action == "ack":
            change = self.storage.acknowledge_alert(link.alert_id, now, who=who, via="link")
        else:
            change = self.storage.resolve_alert(link.alert_id, now, who=who, via="link", note=note)
        if change is None:
            return _no_alert(link)
        told = describe_change(change, link.action, self.timezone)
        if change.changed:
            log.info("web: %s", told)
        code = 200 if change.changed else 409
        return self._alert_page(code, told[0].upper() + told[1:], change.status)

    def _alert_page(
        self, code: int, title: str, alert: AlertStatus, form: Mapping[str, object] | None = None
    ) -> Page:
        context = {"alert": alert, "timezone": self.timezone, "action": None, "missing": ""}
        context.update(form or {})
        return Page(code, title, "alert.html.j2", context)

    def _form_page(self, code: int, link: _Link, alert: AlertStatus, missing: str = "") -> Page:
        verb = _VERB[link.action]
        form = {
            "action": link.action,
            "verb": verb,
            "missing": missing,
            "name_limit": NAME_LIMIT,
            "note_limit": NOTE_LIMIT,
        }
        return self._alert_page(code, f"{verb} alert {alert.id}?", alert, form)


def _no_alert(link: _Link) -> Page:
    return Page.message(404, f"No alert {link.alert_id}", "Harken has no such alert.")


def _command(link: _Link) -> str:
    return (
        f'resolve {link.alert_id} --note "…"'
        if link.action == "resolve"
        else f"ack {link.alert_id}"
    )
