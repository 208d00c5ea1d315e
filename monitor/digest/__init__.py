"""Digests: the mentions of one period, counted, ranked and emailed."""

from monitor.digest.build import Count, Digest, build_digest
from monitor.digest.send import (
    digest_message_id,
    digest_subject,
    period_label,
    render_digest,
    send_digest,
)

__all__ = [
    "Count",
    "Digest",
    "build_digest",
    "digest_message_id",
    "digest_subject",
    "period_label",
    "render_digest",
    "send_digest",
]
