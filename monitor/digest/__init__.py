"""Digests: the mentions of one period, counted, ranked, charted and emailed."""

from monitor.digest.build import (
    ActionItem,
    Author,
    Count,
    Digest,
    Response,
    UnreadSource,
    build_digest,
)
from monitor.digest.send import (
    digest_message_id,
    digest_subject,
    mail_digest,
    period_label,
    render_digest,
    send_digest,
)
from monitor.digest.timeline import Bucket, BusiestHour

__all__ = [
    "ActionItem",
    "Author",
    "Bucket",
    "BusiestHour",
    "Count",
    "Digest",
    "Response",
    "UnreadSource",
    "build_digest",
    "digest_message_id",
    "digest_subject",
    "mail_digest",
    "period_label",
    "render_digest",
    "send_digest",
]
