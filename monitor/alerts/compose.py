"""One alert email from one verdict: subject from trusted words only, body from the templates."""

from __future__ import annotations

from datetime import datetime

from monitor.mailer import Email
from monitor.mention import Verdict
from monitor.templating import Templates

TEXT_TEMPLATE = "alert.txt.j2"
HTML_TEMPLATE = "alert.html.j2"
_SENTIMENT_WORDS = {"negative", "neutral", "positive"}


def alert_subject(verdict: Verdict) -> str:
    """``[Harken] URGENT: negative mention of Acme on hn_acme``; never the mention's own text."""
    label = verdict.sentiment.label
    mood = f"{label} mention" if label in _SENTIMENT_WORDS else "mention"
    brands = f" of {', '.join(verdict.brands)}" if verdict.brands else ""
    return f"[Harken] {verdict.severity.value.upper()}: {mood}{brands} on {verdict.mention.source}"


def alert_message_id(alert_id: int) -> str:
    """The stable Message-ID of one alert, so a receiver can drop a repeated delivery."""
    return f"<harken-alert-{alert_id}@harken>"


def compose_alert(
    verdict: Verdict,
    templates: Templates,
    *,
    alert_id: int,
    created_at: datetime,
    organisation: str,
    timezone: str,
) -> Email:
    """Render the alert templates for one verdict."""
    context = {
        "mention": verdict.mention,
        "verdict": verdict,
        "alert_id": alert_id,
        "created_at": created_at,
        "organisation": organisation,
        "timezone": timezone,
    }
    return Email(
        subject=alert_subject(verdict),
        text=templates.render(TEXT_TEMPLATE, context),
        html=templates.render(HTML_TEMPLATE, context),
    )
