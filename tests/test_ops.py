"""Operating the daemon: /healthz and /metrics over real HTTP, and ``harken doctor``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.config import load_config
from monitor.metrics import REGISTRY
from monitor.service import Harken
from monitor.web import LinkServer, serve_links
from tests.harness import Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer, free_port

FEED = rss_feed(
    ("down-1", "Acme Cloud is down", "Acme Cloud is down again, terrible outage."),
    ("calm-1", "Acme ships v2", "Acme shipped version two."),
)


@pytest.fixture
def harness(tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer) -> Harness:
    http_server.routes["/news.xml"] = Reply(FEED)
    harness = Harness(tmp_path)
    harness.write_config(
        {"news": http_server.url("/news.xml"), "broken": http_server.url("/missing.xml")},
        smtp_server.port,
        # No link secret: /healthz and /metrics are served all the same.
        extra='\n[web]\nlisten = "127.0.0.1:0"\nsecret_env = "HARKEN_TEST_NO_SUCH_SECRET"\n',
    )
    return harness


@pytest.fixture
def daemon(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harken, str]]:
    monkeypatch.chdir(harness.folder)
    harken = Harken(load_config(harness.config))
    server = serve_links(harken)
    assert isinstance(server, LinkServer)
    try:
        yield harken, server.url
    finally:
        server.stop()
        harken.close()


def test_healthz_lists_each_source_with_its_last_success_and_error(
    daemon: tuple[Harken, str],
) -> None:
    harken, url = daemon
    harken.poll_all()

    reply = httpx.get(f"{url}/healthz", timeout=5)

    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    report = json.loads(reply.text)
    assert report["status"] == "ok"
    assert report["database"] == {"reachable": True}
    assert report["scheduler"]["alive"] is True
    sources = {source["name"]: source for source in report["sources"]}
    assert set(sources) == {"news", "broken"}
    assert sources["news"]["last_success_at"] is not None
    assert sources["news"]["last_error"] is None
    assert sources["broken"]["last_success_at"] is None
    assert "404" in sources["broken"]["last_error"]


def test_healthz_answers_503_when_the_database_is_gone(
    daemon: tuple[Harken, str], harness: Harness
) -> None:
    harken, url = daemon
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    harken.storage.close()
    harness.database.write_bytes(b"this is not a database" * 100)

    reply = httpx.get(f"{url}/healthz", timeout=5)

    assert reply.status_code == 503
    report = json.loads(reply.text)
    assert report["status"] == "unavailable"
    assert report["database"]["reachable"] is False
    assert report["database"]["error"]
    assert [source["name"] for source in report["sources"]] == ["news", "broken"]
    metrics = httpx.get(f"{url}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "harken_database_up 0" in metrics.text


def test_ack_routes_answer_404_without_a_link_secret(daemon: tuple[Harken, str]) -> None:
    _, url = daemon
    reply = httpx.get(f"{url}/alerts/1/ack?expires=9999999999&sig=abc", timeout=5)
    assert reply.status_code == 404
    assert "not a link Harken made" in reply.text


def test_metrics_count_polls_errors_mentions_and_the_outbox(
    daemon: tuple[Harken, str], smtp_server: SmtpServer
) -> None:
    harken, url = daemon
    before = {family.name: dict(family.samples) for family in REGISTRY.families()}
    harken.poll_all()

    reply = httpx.get(f"{url}/metrics", timeout=5)

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = reply.text
    polls = before["harken_polls_total"]
    errors = before["harken_poll_errors_total"]
    news_polls = int(polls.get((("source", "news"),), 0)) + 1
    broken_errors = int(errors.get((("source", "broken"),), 0)) + 1
    assert "# TYPE harken_polls_total counter" in text
    assert f'harken_polls_total{{source="news"}} {news_polls}' in text
    assert f'harken_poll_errors_total{{source="broken"}} {broken_errors}' in text
    assert 'harken_poll_errors_total{source="news"}' not in text
    assert 'harken_mentions_stored_total{severity="urgent"}' in text
    assert "harken_database_up 1" in text
    assert "harken_outbox_depth 0" in text
    assert f'harken_alerts{{status="sent"}} {len(smtp_server.inbox)}' in text
    assert 'harken_source_last_success_timestamp_seconds{source="news"}' in text


# harken doctor ------------------------------------------------------------------------------


def test_doctor_passes_when_everything_is_reachable(harness: Harness) -> None:
    done = harness.harken("doctor")

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("config", "rules", "lexicon", "database", "smtp", "source news"):
        assert any(line.startswith(f"ok    {name}:") for line in lines), done.stdout
    assert "answered EHLO" in done.stdout
    assert harness.database.exists()  # opened and migrated


def test_doctor_fails_with_a_clear_line_when_smtp_is_down(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    port = free_port()  # nothing listens there
    text = harness.config.read_text(encoding="utf-8")
    harness.config.write_text(text.replace(f"port = {smtp_server.port}", f"port = {port}"))

    done = harness.harken("doctor")

    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert line.startswith(f"FAIL  smtp: SMTP 127.0.0.1:{port}: connection refused"), line
    assert "fix: check [email] host, port" in line
    assert "ok    database:" in done.stdout


def test_doctor_never_prints_the_smtp_password(harness: Harness) -> None:
    text = harness.config.read_text(encoding="utf-8")
    harness.config.write_text(
        text.replace(
            'timeout = "5s"',
            'timeout = "5s"\nusername = "harken"\npassword_env = "HARKEN_TEST_SMTP_PASSWORD"',
            1,
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(harness.config), "doctor"],
        cwd=harness.folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HARKEN_TEST_SMTP_PASSWORD": "pa55-w0rd-secret"},
        check=False,
    )

    assert done.returncode == 1
    assert "pa55-w0rd-secret" not in done.stdout + done.stderr
    assert "FAIL  smtp:" in done.stdout
