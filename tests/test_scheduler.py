"""The daemon's scheduler against a real local server: stopping while polls are under way."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from monitor.config.load import load_config
from monitor.daemon.scheduler import build_scheduler
from monitor.daemon.wiring import open_app
from tests.harness import Harness
from tests.servers import HttpServer, Reply, SmtpServer


def test_stopping_while_a_failing_poll_is_under_way_finishes(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    # The poll fails after shutdown has begun, and a failed poll schedules its retry.
    http_server.routes["/feed.xml"] = Reply(b"down", status=503, delay=1.0)
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/feed.xml")}, smtp_server.port)
    harken = open_app(load_config(harness.config))
    scheduler = build_scheduler(harken)
    scheduler.start()
    try:
        deadline = time.monotonic() + 30
        while not http_server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http_server.requests, "the daemon should poll at start"

        stopping = threading.Thread(target=scheduler.shutdown, daemon=True)
        stopping.start()
        stopping.join(timeout=30)

        assert not stopping.is_alive(), "shutdown hung waiting for the poll under way"
        assert harken.storage.health_of("news") is not None  # the poll finished and was recorded
    finally:
        harken.close()
