"""Storm control: alerts about one story go as one message, non-urgent ones wait out quiet hours."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape

from monitor.config.hours import Hours
from monitor.mail.mailer import Email, clean_header
from monitor.mention import Severity
from monitor.storage import PendingAlert
from monitor.urls import canonical_url

_LISTED = 20  # a grouped message lists this many of its mentions, then says how many more


def in_quiet_hours(quiet_hours: Hours | None, timezone: str, now: datetime) -> bool:
    """Whether ``now`` falls in ``quiet_hours`` (overnight allowed), read in ``timezone``."""
    return quiet_hours is not None and quiet_hours.contains(now.astimezone(ZoneInfo(timezone)))


def is_held(alert: PendingAlert, quiet: bool) -> bool:
    """A first alert about a non-urgent mention waits while it is quiet; the rest go at once."""
    verdict = alert.verdict
    return (
        quiet
        and alert.parent_id is None
        and verdict is not None
        and verdict.severity is not Severity.URGENT
    )


def story_key(alert: PendingAlert) -> tuple[str, ...] | None:
    """What makes two first alerts about mentions the same story; None for any other alert."""
    if alert.parent_id is not None or alert.verdict is None:
        return None
    mention = alert.verdict.mention
    story: tuple[str, ...]
    if mention.thread_id:
        story = ("thread", mention.source, mention.thread_id)
    elif mention.url:
        story = ("url", canonical_url(mention.url))
    else:
        return None
    # Only alerts told to the same groups can share one message.
    return (*story, alert.verdict.severity.value, *sorted(alert.groups))


def group_alerts(
    alerts: Sequence[PendingAlert], window: timedelta | None
) -> list[list[PendingAlert]]:
    """``alerts`` in order, those about one story raised within ``window`` of the first together."""
    batches: list[list[PendingAlert]] = []
    open_batches: dict[tuple[str, ...], list[PendingAlert]] = {}
    for alert in alerts:
        key = story_key(alert) if window else None
        batch = open_batches.get(key) if key else None
        if batch is not None and window and alert.created_at - batch[0].created_at <= window:
            batch.append(alert)
            continue
        batch = [alert]
        batches.append(batch)
        if key:
            open_batches[key] = batch
    return batches


def grouped_email(email: Email, alerts: Sequence[PendingAlert]) -> Email:
    """The first alert's email, saying how many alerts it stands for and listing them."""
    if len(alerts) < 2:
        return email
    count = len(alerts)
    lines = [f"{count} alerts about this story; this message stands for all of them:"]
    items: list[str] = []
    for alert in alerts[:_LISTED]:
        mention = alert.verdict.mention if alert.verdict else None
        if mention is None:
            continue
        what = clean_header(mention.title or mention.text, 120)
        lines.append(f"- alert {alert.id}: {what} ({mention.author or 'unknown'}) {mention.url}")
        items.append(
            f"<li>alert {alert.id}: {escape(what)} ({escape(mention.author or 'unknown')}) "
            f'<a href="{escape(mention.url)}">{escape(mention.url)}</a></li>'
        )
    if count > _LISTED:
        lines.append(f"- and {count - _LISTED} more")
        items.append(f"<li>and {count - _LISTED} more</li>")
    summary = "\n".join(lines) + "\n\n"
    html = email.html
    if html is not None:
        block = f"<p>{escape(lines[0])}</p><ul>{''.join(items)}</ul>"
        head, body_tag, rest = html.partition("<body")
        if body_tag:
            tag_rest, closing, after = rest.partition(">")
            html = f"{head}{body_tag}{tag_rest}{closing}{block}{after}"
        else:
            html = block + html
    return Email(
        subject=f"{email.subject}, and {count - 1} more on this story",
        text=summary + email.text,
        html=html,
        images=email.images,
    )
