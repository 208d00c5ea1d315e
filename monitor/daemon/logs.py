"""Log records as human text or JSON lines, with the source, mention and alert they concern."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal

from monitor.urls import without_credentials

# Keys passed with extra={...} that say what a record is about; JSON lines carry them as fields.
CONTEXT = ("source", "mention", "alert")
NOISY = ("httpx", "httpcore", "alembic", "apscheduler", "uvicorn")


# Header values a library may log at DEBUG (tweepy logs every request's headers): whatever
# follows the header's name up to the end of its quoted or written value.
_SECRET_HEADERS = re.compile(
    r"\b((?:proxy-)?authorization|(?:set-)?cookie|x-api-key|api-key|x-auth-token)"
    r"(['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(bearer|basic|token)\s+[\w.~+/=-]{8,}", re.IGNORECASE)


class Redactor:
    """Takes secrets out of log text: configured ones by value, and credentials by shape."""

    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()

    def hide(self, secrets: Iterable[str]) -> None:
        """Also hide these values from now on (longest first, so no part of one survives)."""
        self._secrets = tuple(sorted({*self._secrets, *secrets}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = _SECRET_HEADERS.sub(r"\1\2***", text)
        text = _BEARER.sub(r"\1 ***", text)
        return without_credentials(text)


# One per process, as the root logger it guards is.
REDACT = Redactor()


class Text(logging.Formatter):
    """The human form, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return REDACT(super().format(record))


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the context keys it has."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": REDACT(record.getMessage()),
        }
        entry.update({key: getattr(record, key) for key in CONTEXT if hasattr(record, key)})
        if record.exc_info:
            entry["error"] = REDACT(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _not_a_skipped_run(record: logging.LogRecord) -> bool:
    # A poll still under way when its next run is due (a slow feed, a database locked for a
    # minute) makes APScheduler warn once per missed run. max_instances=1 is by design, and the
    # poll that is slow says why itself; a warning a second would bury it.
    return not (
        record.name.startswith("apscheduler")
        and "maximum number of running instances reached" in str(record.msg)
    )


def configure(form: Literal["text", "json"], verbose: bool) -> None:
    """Send Harken's logs to stderr in the chosen form; quiet the libraries' chatter.

    Every record, a library's included, passes through REDACT: call ``REDACT.hide`` with the
    configured secrets once the config is read.
    """
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(Text("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_not_a_skipped_run)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Every HTTP request and scheduler tick would drown out what a person needs to see.
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
