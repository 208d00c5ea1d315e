"""One alert email from one verdict or one source's state: subject from trusted words and the
mention's cleaned headline, body from the templates."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.errors import DeliveryError
from monitor.mail.mailer import Email, clean_header
from monitor.mail.templates import Templates, excerpt
from monitor.mention import Verdict

log = logging.getLogger(__name__)

TEXT_TEMPLATE = "alert.txt.j2"
HTML_TEMPLATE = "alert.html.j2"
SOURCE_TEXT_TEMPLATE = "source_alert.txt.j2"
SOURCE_HTML_TEMPLATE = "source_alert.html.j2"
REPLY_FOLDER = "replies"
# A rule's reply names a file: plain words only, so "../alert" never reaches the loader.
_REPLY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Reply templates already warned about, so a missing one is logged once, not once per alert.
_warned_replies: set[str] = set()
_SENTIMENT_WORDS = {"negative", "neutral", "positive"}
# A source alert's state line reaches the subject only if it is a few plain words.
_STATE_WORDS = re.compile(r"[A-Za-z][A-Za-z0-9 ,'-]{0,47}")
_UNKNOWN_STATE = "needs attention"
_SOURCE_NAME_LIMIT = 60
# Long enough to tell five alerts apart in an inbox, short enough to leave the rest visible.
HEADLINE_LIMIT = 70


def alert_subject(verdict: Verdict) -> str:
    """``[Harken] URGENT: Acme charged me twice… (negative mention of Acme on hn_acme)``.

    The mention's headline tells alerts apart in an inbox; it is public text, so it arrives as
    one cleaned line (no CR/LF or controls) and the mailer encodes it, never raw.
    """
    label = verdict.sentiment.label
    mood = f"{label} mention" if label in _SENTIMENT_WORDS else "mention"
    brands = f" of {', '.join(verdict.brands)}" if verdict.brands else ""
    about = f"{mood}{brands} on {verdict.mention.source}"
    headline = alert_headline(verdict)
    what = f"{headline} ({about})" if headline else about
    return f"[Harken] {verdict.severity.value.upper()}: {what}"


def alert_headline(verdict: Verdict) -> str:
    """The first line of the mention's title, or the start of its text, cut short at a word.

    A title's later lines are not its headline (and are where an injected "Bcc:" would hide).
    """
    mention = verdict.mention
    title = next((line for line in mention.title.splitlines() if line.strip()), "")
    return clean_header(excerpt(title, HEADLINE_LIMIT) or excerpt(mention.text, HEADLINE_LIMIT))


def alert_message_id(alert_id: int) -> str:
    """The stable Message-ID of one alert, so a receiver can drop a repeated delivery."""
    return f"<harken-alert-{alert_id}@harken>"


def escalation_message_id(alert_id: int, level: int) -> str:
    """The stable Message-ID of an alert's escalation to ``level``: its own, one per level."""
    return f"<harken-alert-{alert_id}-level-{level}@harken>"


@dataclass(frozen=True)
class Escalation:
    """Why an alert email is an escalation: nobody acknowledged it within ``after``."""

    level: int
    after: str  # "15m"; "" when the level is no longer in the config
    groups: tuple[str, ...]


def escalation_subject(verdict: Verdict, level: int) -> str:
    """``[Harken] ESCALATED to level 1: URGENT: …``: the alert's subject, so it reads as its reply."""
    return alert_subject(verdict).replace("[Harken] ", f"[Harken] ESCALATED to level {level}: ", 1)


def compose_alert(
    verdict: Verdict,
    templates: Templates,
    *,
    alert_id: int,
    created_at: datetime,
    organisation: str,
    timezone: str,
    ack_url: str = "",
    resolve_url: str = "",
    escalation: Escalation | None = None,
    harken: str = "harken",
) -> Email:
    """Render the alert templates for one verdict (an escalation of it, if ``escalation``).

    ``harken`` is the command that reaches this alert's database from a terminal.
    """
    context = {
        "mention": verdict.mention,
        "verdict": verdict,
        "alert_id": alert_id,
        "created_at": created_at,
        "organisation": organisation,
        "timezone": timezone,
        "ack_url": ack_url,
        "resolve_url": resolve_url,
        "escalation": escalation,
        "harken": harken,
    }
    context["suggested_reply"] = suggested_reply(verdict, templates, context)
    return Email(
        subject=escalation_subject(verdict, escalation.level)
        if escalation
        else alert_subject(verdict),
        text=templates.render(TEXT_TEMPLATE, context),
        html=templates.render(HTML_TEMPLATE, context),
    )


def suggested_reply(verdict: Verdict, templates: Templates, context: Mapping[str, Any]) -> str:
    """The rule's suggested reply rendered from ``replies/<reply>.txt.j2``; "" when none fits.

    A missing or broken reply template costs the responder a head start, not the alert: it is
    logged once and the alert goes without it.
    """
    if not verdict.reply:
        return ""
    name = f"{REPLY_FOLDER}/{verdict.reply}.txt.j2"
    path = templates.folder / name
    if not _REPLY_NAME.fullmatch(verdict.reply) or not path.is_file():
        _warn_once(
            str(path),
            f"suggested reply {verdict.reply!r}: no template {path}; alerts go without it until you add it",
        )
        return ""
    try:
        return templates.render(name, context).strip()
    except DeliveryError as error:
        _warn_once(str(path), f"suggested reply {verdict.reply!r} left out: {error}")
        return ""


def _warn_once(key: str, message: str) -> None:
    if key not in _warned_replies:
        _warned_replies.add(key)
        log.warning("%s", message)


def split_source_message(message: str) -> tuple[str, str]:
    """A source alert's message as (state, details).

    The state is the first line up to its first colon (``stopped hearing`` in ``stopped
    hearing: HTTP 503 since 09:00``); the details are everything after it.
    """
    first, _, rest = message.strip().partition("\n")
    state, _, tail = first.partition(":")
    details = "\n".join(part for part in (tail.strip(), rest.strip()) if part)
    return state.strip(), details


def source_alert_subject(source: str, message: str) -> str:
    """``[Harken] Source hn_acme: stopped hearing``; details and platform text stay in the body."""
    state, _ = split_source_message(message)
    if not _STATE_WORDS.fullmatch(state):
        state = _UNKNOWN_STATE
    return f"[Harken] {about(source)}: {state}"


def about(source: str) -> str:
    """What an admin alert is about, in words: a source, the rule files, or one rule's spike."""
    if source == "rules":
        return "Rule files"
    if source.startswith("spike:"):
        return f"Rule {clean_header(source.removeprefix('spike:'), _SOURCE_NAME_LIMIT)}"
    return f"Source {clean_header(source, _SOURCE_NAME_LIMIT)}"


def compose_source_alert(
    source: str,
    message: str,
    templates: Templates,
    *,
    alert_id: int,
    created_at: datetime,
    organisation: str,
    timezone: str,
) -> Email:
    """Render the source alert templates for one message about a source."""
    state, details = split_source_message(message)
    context = {
        "source": source,
        "message": message,
        "state": state,
        "details": details,
        "alert_id": alert_id,
        "created_at": created_at,
        "organisation": organisation,
        "timezone": timezone,
    }
    return Email(
        subject=source_alert_subject(source, message),
        text=templates.render(SOURCE_TEXT_TEMPLATE, context),
        html=templates.render(SOURCE_HTML_TEMPLATE, context),
    )
