"""Run the real ``harken`` command against a config that points at local servers."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Harness:
    """A folder with a config.toml wired to the test's HTTP and SMTP servers."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "config.toml"

    @property
    def database(self) -> Path:
        return self.folder / "harken.db"

    def write_config(
        self, sources: dict[str, str], smtp_port: int, rules: Path | None = None, extra: str = ""
    ) -> None:
        tables = "\n".join(
            f'[sources.{name}]\ntype = "rss"\nurl = "{url}"\nevery = "1s"\n'
            for name, url in sources.items()
        )
        self.config.write_text(
            f"""
[organisation]
name = "Acme Inc."
timezone = "UTC"

[[brands]]
name = "Acme"
terms = ["Acme", "@acme", "Acme Cloud"]
exclude = ["Acme Hardware"]

{tables}

[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]

[storage]
url = "sqlite:///harken.db"

[http]
timeout = "2s"

[email]
host = "127.0.0.1"
port = {smtp_port}
from = "harken@example.com"
timeout = "5s"

[alerts]
notify = ["oncall"]

[digest]
to = ["marketing"]

[rules]
path = "{rules or REPO / "rules"}"
lexicon = "{REPO / "rules" / "sentiment" / "lexicon.toml"}"

[templates]
path = "{REPO / "templates"}"
{extra}
""",
            encoding="utf-8",
        )

    def harken(
        self, *args: str, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``harken --config <this config> ARGS`` as a user would, in this folder."""
        return subprocess.run(
            [sys.executable, "-m", "monitor", "--config", str(self.config), *args],
            cwd=self.folder,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            check=False,
        )


def rss_feed(*items: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, title, description) items; the caller escapes nothing."""
    from xml.sax.saxutils import escape

    entries = "".join(
        f"<item><guid>{escape(guid)}</guid><title>{escape(title)}</title>"
        f"<link>https://news.example/{escape(guid)}</link>"
        f"<pubDate>Sat, 21 Nov 2026 09:00:00 GMT</pubDate>"
        f"<description>{escape(text)}</description></item>"
        for guid, title, text in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test feed</title><link>https://news.example/</link>{entries}</channel></rss>"
    ).encode()


class Clock:
    """A ``now`` that tests move by hand: Harken reads time only through such a callable."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def at(self, later: timedelta) -> None:
        """Set the time to ``later`` after the start."""
        self.now = self.start + later
