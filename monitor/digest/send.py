"""Rendering a digest and emailing it to the digest's recipients."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import css_inline

from monitor.config.settings import Config, ScheduledDigest
from monitor.digest.build import Digest, Response, build_digest
from monitor.digest.chart import volume_chart
from monitor.digest.timeline import Bucket
from monitor.errors import DeliveryError
from monitor.mail.mailer import Email, InlineImage, Sender
from monitor.mail.templates import Templates
from monitor.storage import SourceHealth, StoredVerdict

TEXT_TEMPLATE = "digest.txt.j2"
HTML_TEMPLATE = "digest.html.j2"
EN_DASH = "\u2013"
SPARKS = " ▁▂▃▄▅▆▇█"
_UTC_STAMP = "%Y%m%dT%H%M%SZ"
# Rules in <style> become style attributes, which every mail client keeps; @media rules (dark
# mode, phones) stay in <style> for the clients that read them. Nothing is ever fetched.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def period_label(start: datetime, end: datetime, timezone: str) -> str:
    """``1 May 08:00`` en dash ``2 May 08:00``, in ``timezone``."""
    zone = ZoneInfo(timezone)
    first, last = start.astimezone(zone), end.astimezone(zone)
    return f"{first.day} {first:%b %H:%M}{EN_DASH}{last.day} {last:%b %H:%M}"


def digest_subject(digest: Digest) -> str:
    """``[Harken] Digest for Acme: 3 mentions, <period>``; only trusted words and numbers."""
    mentions = "1 mention" if digest.total == 1 else f"{digest.total} mentions"
    unread = len(digest.unread)
    if unread:
        mentions += f" ({unread} source{'' if unread == 1 else 's'} could not be read)"
    period = period_label(digest.start, digest.end, digest.timezone)
    return f"[Harken] Digest for {digest.organisation}: {mentions}, {period}"


def digest_message_id(start: datetime, end: datetime, key: str = "") -> str:
    """The same Message-ID for the same digest and period, so one sent twice can be dropped."""
    name = f"{_slug(key)}-" if key else ""
    return f"<harken-digest-{name}{_stamp(start)}-{_stamp(end)}@harken>"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_UTC_STAMP)


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-.") or "digest"


def per_words(size: timedelta) -> str:
    """A bar's length in words: ``hour``, ``3 hours``, ``15 minutes``, ``day``, ``7 days``."""
    minutes = round(size.total_seconds() / 60)
    for unit, length in (("day", 1440), ("hour", 60), ("minute", 1)):
        if minutes >= length and minutes % length == 0:
            count = minutes // length
            return unit if count == 1 else f"{count} {unit}s"
    return f"{minutes} minutes"


def sparkline(buckets: Sequence[Bucket]) -> str:
    """One block character per bucket, as tall as its share of the busiest bucket."""
    peak = max((bucket.total for bucket in buckets), default=0)
    if not peak:
        return SPARKS[1] * len(buckets)
    top = len(SPARKS) - 1
    return "".join(SPARKS[max(1, round(b.total / peak * top)) if b.total else 1] for b in buckets)


def chart_alt(digest: Digest) -> str:
    """The chart in words, for clients that block images and for screen readers."""
    peak = max(digest.timeline, key=lambda bucket: bucket.total, default=None)
    if peak is None or not peak.total:
        return "No mentions in this period"
    negative = sum(bucket.negative for bucket in digest.timeline)
    positive = sum(bucket.positive for bucket in digest.timeline)
    when = peak.start.astimezone(ZoneInfo(digest.timezone))
    return (
        f"Mentions per {per_words(digest.bucket)}: {digest.total} in all, {negative} negative, "
        f"{positive} positive; the most, {peak.total}, from {when.day} {when:%b %H:%M}"
    )


def render_digest(digest: Digest, templates: Templates) -> Email:
    """Render the digest templates, CSS inlined, with the volume chart as an inline picture.

    Both templates see ``digest``, ``period``, ``timezone`` and ``per``; the HTML also ``chart``
    (a ``cid:`` reference) and ``chart_alt``, the text ``sparkline``. Write the HTML to a file
    with ``Email.html_for_file()``, which turns the chart into a data URI.
    """
    images: tuple[InlineImage, ...] = ()
    if digest.total:
        cid = f"chart-{_slug(digest.name)}-{_stamp(digest.start)}-{_stamp(digest.end)}@harken"
        images = (InlineImage(cid, volume_chart(digest)),)
    context = {
        "digest": digest,
        "period": period_label(digest.start, digest.end, digest.timezone),
        "timezone": digest.timezone,
        "per": per_words(digest.bucket),
        "chart": f"cid:{images[0].cid}" if images else "",
        "chart_alt": chart_alt(digest),
        "sparkline": sparkline(digest.timeline),
    }
    html = templates.render(HTML_TEMPLATE, context)
    try:
        inlined = _INLINER.inline(html)
    except (css_inline.InlineError, ValueError) as error:
        raise DeliveryError(f"{templates.folder / HTML_TEMPLATE}: CSS: {error}") from None
    return Email(
        subject=digest_subject(digest),
        text=templates.render(TEXT_TEMPLATE, context),
        html=inlined,
        images=images,
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
    scheduled: ScheduledDigest | None = None,
    responses: Mapping[int, Response] | None = None,
    health: Sequence[SourceHealth] = (),
    message_id: str | None = None,
    addresses: Sequence[str] | None = None,
) -> Digest | None:
    """Email the digest of [start, end); None when the period was quiet and send_empty is off.

    ``scheduled`` says which digest (recipients, timezone, top…); by default, [digest].
    ``message_id`` and ``addresses``, when given, are those a recorded send fixed beforehand.
    """
    scheduled = scheduled or config.scheduled_digests[0]
    digest = build_digest(
        stored,
        start,
        end,
        organisation=config.settings.organisation.name,
        timezone=scheduled.timezone,
        top=scheduled.top,
        responses=responses,
        name=scheduled.key,
        health=health,
    )
    if digest.quiet and not scheduled.send_empty:
        return None
    email = render_digest(digest, templates)
    mail_digest(
        digest,
        email,
        mailer=mailer,
        config=config,
        scheduled=scheduled,
        now=now,
        message_id=message_id,
        addresses=addresses,
    )
    return digest


def mail_digest(
    digest: Digest,
    email: Email,
    *,
    mailer: Sender,
    config: Config,
    scheduled: ScheduledDigest,
    now: datetime,
    message_id: str | None = None,
    addresses: Sequence[str] | None = None,
) -> list[str]:
    """Email ``digest``, rendered as ``email``, to ``scheduled``'s recipients; returns them.

    The one way a digest is sent, scheduled or by hand. ``message_id`` defaults to the
    digest's own (``digest_message_id``), ``addresses`` to those of ``scheduled``'s groups.
    Raises DeliveryError when there is no address to send to, or the mailer fails.
    """
    addresses = list(config.addresses(scheduled.to) if addresses is None else addresses)
    if not addresses:
        where = "digest.to" if not scheduled.key else f'the [[digests]] table "{scheduled.key}"'
        raise DeliveryError(
            f"digest {scheduled.label}: recipient groups {', '.join(scheduled.to) or '(none)'} ({where}) have no email addresses; add them under [recipients] in config.toml"
        )
    mailer.send(
        addresses,
        email.subject,
        email.text,
        email.html,
        message_id or digest_message_id(digest.start, digest.end, scheduled.key),
        date=now,
        images=email.images,
    )
    return addresses
