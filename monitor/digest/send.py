"""Rendering a digest and emailing it to the digest's recipients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from monitor.config import Config
from monitor.digest.build import Digest, build_digest
from monitor.errors import DeliveryError
from monitor.mailer import Email, Sender
from monitor.storage import StoredVerdict
from monitor.templating import Templates

TEXT_TEMPLATE = "digest.txt.j2"
HTML_TEMPLATE = "digest.html.j2"
EN_DASH = "\u2013"


def period_label(start: datetime, end: datetime, timezone: str) -> str:
    """``1 May 08:00`` en dash ``2 May 08:00``, in ``timezone``."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    return f"{first.day} {first:%b %H:%M}{EN_DASH}{last.day} {last:%b %H:%M}"


def digest_subject(digest: Digest) -> str:
    """``[Harken] Digest for Acme: 3 mentions, <period>``; only trusted words and numbers."""
    mentions = "1 mention" if digest.total == 1 else f"{digest.total} mentions"
    period = period_label(digest.start, digest.end, digest.timezone)
    return f"[Harken] Digest for {digest.organisation}: {mentions}, {period}"


def digest_message_id(start: datetime, end: datetime) -> str:
    """The same Message-ID for the same period, so a digest sent twice can be dropped."""
    pattern = "%Y%m%dT%H%M%SZ"
    return (
        f"<harken-digest-{start.astimezone(UTC):{pattern}}-{end.astimezone(UTC):{pattern}}@harken>"
    )


def render_digest(digest: Digest, templates: Templates) -> Email:
    """Render the digest templates; both see ``digest``, ``period`` and ``timezone``."""
    context = {
        "digest": digest,
        "period": period_label(digest.start, digest.end, digest.timezone),
        "timezone": digest.timezone,
    }
    return Email(
        subject=digest_subject(digest),
        text=templates.render(TEXT_TEMPLATE, context),
        html=templates.render(HTML_TEMPLATE, context),
    )


def send_digest(
    stored: Sequence[StoredVerdict],
    start: datetime,
    end: datetime,
    *,
    mailer: Sender,
    templates: Templates,
    config: Config,
    now: datetime,
) -> Digest | None:
    """Email the digest of [start, end); None when the period was quiet and send_empty is off."""
    settings = config.settings
    digest = build_digest(
        stored,
        start,
        end,
        organisation=settings.organisation.name,
        timezone=settings.digest.timezone,
        top=settings.digest.top,
    )
    if digest.quiet and not settings.digest.send_empty:
        return None
    addresses = config.addresses(settings.digest.to)
    if not addresses:
        raise DeliveryError(
            f"digest: recipient groups {', '.join(settings.digest.to) or '(none)'} have no email addresses; add them under [recipients] in config.toml"
        )
    email = render_digest(digest, templates)
    mailer.send(
        addresses, email.subject, email.text, email.html, digest_message_id(start, end), date=now
    )
    return digest
