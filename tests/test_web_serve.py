"""`harken web serve` alone, against the database `harken run` writes: so web and workers can
run on different machines. It serves the inbox, the links in alert emails, and /healthz and
/metrics without a scheduler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.alerts import Links
from monitor.mention import Poll
from monitor.storage import Storage
from tests.harness import Harness
from tests.servers import SmtpServer, free_port
from tests.test_web import SECRET, urgent


@pytest.fixture
def web(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[str, Storage]]:
    """`harken web serve` on a free port, over a database with two open urgent alerts."""
    harness = Harness(tmp_path)
    harness.write_config(
        {"news": "http://127.0.0.1:9/news.xml"},
        smtp_server.port,
        extra='\n[web]\nbase_url = "https://harken.example.com"\nsecret_env = "HARKEN_TEST_WEB"\n',
    )
    storage = Storage(f"sqlite:///{harness.database}")
    verdicts = [urgent("1", "Acme is down"), urgent("2", "Acme again")]
    poll = Poll(mentions=tuple(v.mention for v in verdicts), cursor={}, fetched=2)
    storage.save_poll("news", poll, verdicts, datetime.now(UTC))
    port = free_port()
    command = [sys.executable, "-m", "monitor", "--config", str(harness.config), "web", "serve"]
    server = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}"],
        cwd=harness.folder,
        env={**os.environ, "HARKEN_TEST_WEB": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "harken web serve did not answer within 30 s"
                time.sleep(0.1)
        yield url, storage
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=15)
        storage.close()
    assert "Traceback" not in errors
    assert SECRET not in errors


@pytest.mark.slow
def test_web_serve_alone_reports_health_without_a_scheduler(web: tuple[str, Storage]) -> None:
    url, _ = web

    health = httpx.get(f"{url}/healthz", timeout=5)
    metrics = httpx.get(f"{url}/metrics", timeout=5)

    assert health.status_code == 200
    report = json.loads(health.text)
    assert report["status"] == "ok"
    assert report["scheduler"] == "not in this process"
    assert report["database"] == {"reachable": True}
    assert report["sources"] == [{"name": "news", "state": "unknown"}]
    assert metrics.status_code == 200
    assert "harken_database_up 1.0" in metrics.text
    assert 'harken_outbox_depth{status="pending"}' in metrics.text
    # Its jobs run elsewhere: no scheduler to report, no poll counted here.
    assert "harken_scheduler_up" not in metrics.text
    assert "harken_polls_total" not in metrics.text
    assert httpx.get(f"{url}/", timeout=5).status_code == 303  # the inbox, behind sign-in


@pytest.mark.slow
def test_a_link_emailed_by_the_daemon_acknowledges_on_a_lone_web_server(
    web: tuple[str, Storage],
) -> None:
    url, storage = web
    # What `harken run` puts in its emails: signed with the same secret, whatever the host.
    links = Links(SECRET, "https://harken.example.com", timedelta(days=7))
    ack = links.path(1, "ack", datetime.now(UTC))

    shown = httpx.get(f"{url}{ack}", timeout=5)
    done = httpx.post(f"{url}{ack}", data={"by": "alice"}, timeout=5)

    assert shown.status_code == 200
    assert "Acknowledge alert 1?" in shown.text
    assert done.status_code == 200
    assert "Alert 1 acknowledged by alice" in done.text
    status = storage.alert_status(1)
    assert status is not None
    assert (status.state, status.acknowledged_by) == ("acknowledged", "alice")
    forged = httpx.post(f"{url}{ack.replace('/1/', '/2/')}", data={"by": "eve"}, timeout=5)
    assert forged.status_code == 403
