"""``harken demo``: the whole pipeline on made-up posts served from 127.0.0.1, no credentials.

The posts are about the fictional Acme. The demo keeps the organisation, rules and templates of
the user's config, swaps in Acme and two local feeds, and writes what it would email to files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from monitor.config.settings import Brand, Config, Settings, StorageSettings
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.digests import digest_of
from monitor.daemon.poll import poll_all
from monitor.daemon.summary import PollSummary
from monitor.daemon.wiring import open_app
from monitor.digest import render_digest
from monitor.mail.mailer import FolderMailer
from monitor.source import source_kind

FEEDS = {"demo_news": "news.xml", "demo_forum": "forum.atom"}
ACME = Brand(name="Acme", terms=["Acme", "@acme", "#acme", "Acme Cloud"], exclude=["Acme Hardware"])


@dataclass(frozen=True)
class DemoResult:
    summaries: list[PollSummary]
    alerts: list[Path]
    digest_html: Path
    digest_text: Path
    database: Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve_posts() -> Iterator[str]:
    """Serve the bundled feeds on 127.0.0.1 at a free port; yield the base URL."""
    handler = partial(_QuietHandler, directory=str(Path(__file__).parent))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def demo_config(config: Config, base_url: str, database: Path) -> Config:
    """The user's config with Acme as the brand, the local feeds as sources and a fresh database."""
    rss = source_kind("rss")
    assert rss is not None
    sources = {
        name: rss.Settings.model_validate({"type": "rss", "url": f"{base_url}/{file}"})
        for name, file in FEEDS.items()
    }
    settings = Settings.model_validate(
        config.settings.model_dump(by_alias=True)
        | {
            "brands": [ACME.model_dump()],
            "sources": {name: source.model_dump() for name, source in sources.items()},
            "storage": StorageSettings(url=f"sqlite:///{database}").model_dump(),
        }
    )
    return Config(settings, dict(sources), config.path)


def run_demo(config: Config, out: Path) -> DemoResult:
    """Poll the sample feeds once and write the alerts and the digest Harken would send."""
    out.mkdir(parents=True, exist_ok=True)
    database = out / "harken-demo.db"
    for stale in out.glob("harken-demo.db*"):
        stale.unlink()
    for stale in out.glob("harken-alert-*"):
        stale.unlink()
    mailer = FolderMailer(out)
    with serve_posts() as base_url:
        app = open_app(demo_config(config, base_url, database), mailer=mailer)
        try:
            summaries = poll_all(app)
            deliver_alerts(app)
            end = app.now()
            email = render_digest(digest_of(app, end - timedelta(days=1), end), app.templates)
        finally:
            app.close()
    digest_html, digest_text = out / "digest.html", out / "digest.txt"
    digest_html.write_text(email.html_for_file(), encoding="utf-8")
    digest_text.write_text(email.text, encoding="utf-8")
    return DemoResult(summaries, sorted(mailer.written), digest_html, digest_text, database)
