"""Log records as human text or JSON lines, with the source, mention and alert they concern."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

# Keys passed with extra={...} that say what a record is about; JSON lines carry them as fields.
CONTEXT = ("source", "mention", "alert")
NOISY = ("httpx", "httpcore", "alembic", "apscheduler")


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and the context keys it has."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({key: getattr(record, key) for key in CONTEXT if hasattr(record, key)})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
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
    """Send Harken's logs to stderr in the chosen form; quiet the libraries' chatter."""
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_not_a_skipped_run)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Every HTTP request and scheduler tick would drown out what a person needs to see.
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
