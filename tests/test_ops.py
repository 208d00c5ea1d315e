"""Operating the daemon: /healthz and /metrics over real HTTP, and ``harken doctor``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client.parser import text_string_to_metric_families

from monitor.config.load import load_config
from monitor.daemon.deliver import deliver_alerts
from monitor.daemon.digests import send_scheduled_digest
from monitor.daemon.healthz import health_token
from monitor.daemon.poll import poll_all
from monitor.daemon.scheduler import Heartbeat
from monitor.daemon.web import serve_web
from monitor.daemon.wiring import App, open_app
from monitor.mention import Severity
from monitor.web.serve import WebServer
from tests.harness import Clock, Harness, rss_feed
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
        # No link secret unless a test sets web_secret: /healthz and /metrics are served all
        # the same, without details.
        extra='\n[web]\nlisten = "127.0.0.1:0"\nsecret_env = "HARKEN_TEST_WEB_SECRET"\n',
    )
    return harness


WEB_SECRET = "a-link-secret-of-more-than-32-characters-0123"


@pytest.fixture
def web_secret() -> str | None:
    """The link secret the daemon runs with; parametrize a test with a value to set one."""
    return None


def details(secret: str = WEB_SECRET) -> dict[str, str]:
    """The header that shows /healthz details, with the token `harken web token` prints."""
    return {"Authorization": f"Bearer {health_token(secret)}"}


@pytest.fixture
def scheduler() -> Iterator[BackgroundScheduler]:
    """A real scheduler, running only its heartbeat, so the tests poll by hand."""
    running = BackgroundScheduler(timezone="UTC")
    running.start()
    yield running
    if running.running:
        running.shutdown(wait=False)


@pytest.fixture
def daemon(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    scheduler: BackgroundScheduler,
    web_secret: str | None,
) -> Iterator[tuple[App, str]]:
    monkeypatch.chdir(harness.folder)
    if web_secret is None:
        monkeypatch.delenv("HARKEN_TEST_WEB_SECRET", raising=False)
    else:
        monkeypatch.setenv("HARKEN_TEST_WEB_SECRET", web_secret)
    harken = open_app(load_config(harness.config), now=CLOCK)
    server = serve_web(harken, Heartbeat(scheduler).alive)
    assert isinstance(server, WebServer)
    try:
        yield harken, server.url
    finally:
        server.stop()
        harken.close()


CLOCK = Clock(datetime(2026, 11, 21, 9, 30, tzinfo=UTC))

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> Samples:
    """What Prometheus reads from ``/metrics``: every sample by name and labels."""
    reply = httpx.get(f"{url}/metrics", timeout=5)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.parametrize("web_secret", [WEB_SECRET])
def test_healthz_lists_each_source_with_its_last_success_and_error(
    daemon: tuple[App, str],
) -> None:
    harken, url = daemon
    poll_all(harken)

    reply = httpx.get(f"{url}/healthz", headers=details(), timeout=5)

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


@pytest.mark.parametrize("web_secret", [WEB_SECRET])
def test_healthz_tells_a_caller_without_the_token_only_what_a_load_balancer_needs(
    daemon: tuple[App, str],
) -> None:
    harken, url = daemon
    poll_all(harken)

    reply = httpx.get(f"{url}/healthz", timeout=5)
    forged = httpx.get(f"{url}/healthz?details=1", headers=details("x" * 40), timeout=5)

    assert reply.status_code == 200
    report = json.loads(reply.text)
    assert set(report) == {"status", "checked_at", "scheduler", "database", "sources"}
    assert report["status"] == "ok"
    assert report["database"] == {"reachable": True}
    assert report["sources"] == [
        {"name": "news", "state": "ok"},
        {"name": "broken", "state": "failing"},
    ]
    assert "missing.xml" not in reply.text  # the failing feed's address is a detail
    assert forged.status_code == 401
    assert forged.headers["WWW-Authenticate"] == "Bearer"
    assert "harken web token" in forged.text
    assert "missing.xml" not in forged.text


def test_healthz_has_no_details_for_anyone_without_a_link_secret(
    daemon: tuple[App, str],
) -> None:
    harken, url = daemon
    poll_all(harken)

    reply = httpx.get(f"{url}/healthz?details=1", headers=details(), timeout=5)

    assert reply.status_code == 401
    assert "none is set" in reply.text
    assert "missing.xml" not in reply.text


@pytest.mark.slow
def test_web_token_prints_the_token_healthz_accepts(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARKEN_TEST_WEB_SECRET", WEB_SECRET)
    printed = harness.harken("web", "token")
    monkeypatch.delenv("HARKEN_TEST_WEB_SECRET")
    unset = harness.harken("web", "token")

    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == health_token(WEB_SECRET)
    assert WEB_SECRET not in printed.stdout
    assert unset.returncode == 1
    assert "HARKEN_TEST_WEB_SECRET must hold the link secret" in unset.stderr


@pytest.mark.parametrize("web_secret", [WEB_SECRET])
def test_healthz_answers_503_when_the_database_is_gone(
    daemon: tuple[App, str], harness: Harness
) -> None:
    harken, url = daemon
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    harken.storage.close()
    harness.database.write_bytes(b"this is not a database" * 100)
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 503

    reply = httpx.get(f"{url}/healthz", headers=details(), timeout=5)

    assert reply.status_code == 503
    report = json.loads(reply.text)
    assert report["status"] == "unavailable"
    assert report["database"]["reachable"] is False
    assert report["database"]["error"]
    assert [source["name"] for source in report["sources"]] == ["news", "broken"]
    assert sample(scrape(url), "harken_database_up") == 0


def test_healthz_answers_503_when_the_scheduler_has_stopped(
    daemon: tuple[App, str], scheduler: BackgroundScheduler
) -> None:
    _, url = daemon
    assert sample(scrape(url), "harken_scheduler_up") == 1
    scheduler.shutdown(wait=True)

    reply = httpx.get(f"{url}/healthz", timeout=5)

    assert reply.status_code == 503
    report = json.loads(reply.text)
    assert report["status"] == "unavailable"
    assert report["scheduler"]["alive"] is False
    assert report["database"] == {"reachable": True}
    assert sample(scrape(url), "harken_scheduler_up") == 0


def test_ack_routes_answer_404_without_a_link_secret(daemon: tuple[App, str]) -> None:
    _, url = daemon
    reply = httpx.get(f"{url}/alerts/1/ack?expires=9999999999&sig=abc", timeout=5)
    assert reply.status_code == 404
    assert "not a link Harken made" in reply.text


def test_metrics_count_polls_errors_by_kind_mentions_by_severity_and_the_outbox(
    daemon: tuple[App, str], smtp_server: SmtpServer
) -> None:
    harken, url = daemon
    before = scrape(url)  # the counters belong to the process, and other tests counted too
    assert sample(before, "harken_mentions_stored_total", severity="high") >= 0
    assert {labels for name, labels in before if name == "harken_mentions_stored_total"} >= {
        frozenset({("severity", severity.value)}) for severity in Severity
    }

    [news, broken] = poll_all(harken)

    after = scrape(url)
    assert news.severities == {"urgent": 1, "normal": 1}, news
    assert broken.error_kind == "fetch"

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("harken_polls_total", source="news") == 1
    assert grew("harken_polls_total", source="broken") == 1
    assert grew("harken_poll_errors_total", source="broken", kind="fetch") == 1
    # A source that worked counts no error (other tests in this process may have counted some).
    assert grew("harken_poll_errors_total", source="news", kind="fetch") == 0
    assert grew("harken_mentions_stored_total", severity="urgent") == 1
    assert grew("harken_mentions_stored_total", severity="normal") == 1
    assert grew("harken_mentions_stored_total", severity="low") == 0
    assert sample(after, "harken_database_up") == 1
    assert sample(after, "harken_scheduler_up") == 1
    assert sample(after, "harken_outbox_depth", status="pending") == 0
    assert sample(after, "harken_outbox_depth", status="failed") == 0
    assert len(smtp_server.inbox) == 1
    assert grew("harken_alert_latency_seconds_count") == 1
    assert sample(after, "harken_source_last_success_timestamp_seconds", source="news") == (
        CLOCK.now.timestamp()
    )
    assert sample(after, "harken_source_consecutive_failures", source="broken") == 1
    assert sample(after, "process_resident_memory_bytes") > 1_000_000


def test_alert_latency_counts_the_wait_for_a_refusing_smtp_server(
    daemon: tuple[App, str], smtp_server: SmtpServer
) -> None:
    harken, url = daemon
    before = scrape(url)
    smtp_server.refusing = True
    poll_all(harken)
    assert smtp_server.inbox == []
    pending = scrape(url)
    assert sample(pending, "harken_outbox_depth", status="pending") == 1

    CLOCK.advance(seconds=90)  # past the retry, one minute after the refusal
    smtp_server.refusing = False
    deliver_alerts(harken)

    after = scrape(url)
    assert len(smtp_server.inbox) == 1
    assert sample(after, "harken_outbox_depth", status="pending") == 0

    def grew(bucket: str) -> float:
        name = "harken_alert_latency_seconds_bucket"
        return sample(after, name, le=bucket) - sample(before, name, le=bucket)

    assert grew("60.0") == 0
    assert grew("120.0") == 1
    assert grew("+Inf") == 1
    assert (
        90
        <= (
            sample(after, "harken_alert_latency_seconds_sum")
            - sample(before, "harken_alert_latency_seconds_sum")
        )
        < 100
    )


def test_metrics_count_digests_sent_and_failed(
    daemon: tuple[App, str], smtp_server: SmtpServer
) -> None:
    harken, url = daemon
    before = scrape(url)
    poll_all(harken)
    smtp_server.refusing = True
    send_scheduled_digest(harken)
    smtp_server.refusing = False
    CLOCK.advance(minutes=5)
    send_scheduled_digest(harken)

    after = scrape(url)
    sent = [message for message in smtp_server.inbox if "Digest" in str(message["Subject"])]
    assert len(sent) == 1

    def grew(outcome: str) -> float:
        name = "harken_digest_sends_total"
        return sample(after, name, digest="default", outcome=outcome) - sample(
            before, name, digest="default", outcome=outcome
        )

    assert grew("ok") == 1
    assert grew("failed") == 1
    assert sample(after, "harken_last_digest_end_timestamp_seconds") == CLOCK.now.timestamp()


# harken doctor ------------------------------------------------------------------------------


@pytest.mark.slow
def test_doctor_passes_when_everything_is_reachable(
    harness: Harness, http_server: HttpServer
) -> None:
    http_server.routes["/missing.xml"] = Reply(FEED)  # doctor reaches every source
    done = harness.harken("doctor")

    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for name in ("config", "rules", "lexicon", "database", "smtp", "source news"):
        assert any(line.startswith(f"ok    {name}:") for line in lines), done.stdout
    assert "answered EHLO" in done.stdout
    assert harness.database.exists()  # opened and migrated


@pytest.mark.slow
def test_doctor_fails_with_a_clear_line_when_smtp_is_down(
    harness: Harness, smtp_server: SmtpServer, http_server: HttpServer
) -> None:
    http_server.routes["/missing.xml"] = Reply(FEED)  # so smtp is the one failure
    port = free_port()  # nothing listens there
    text = harness.config.read_text(encoding="utf-8")
    harness.config.write_text(text.replace(f"port = {smtp_server.port}", f"port = {port}"))

    done = harness.harken("doctor")

    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert line.startswith(f"FAIL  smtp: SMTP 127.0.0.1:{port}: connection refused"), line
    assert "fix: check [email] host, port" in line
    assert "ok    database:" in done.stdout


@pytest.mark.slow
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
