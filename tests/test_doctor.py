"""`harken doctor` notices what would fail later: here, a channel whose {VARIABLE} is unset."""

from __future__ import annotations

from pathlib import Path

from tests.harness import Harness
from tests.servers import HttpServer, Reply, SmtpServer

CHANNELS = """
[channels.ops]
url = "json://127.0.0.1:9/{HARKEN_TEST_UNSET_TOKEN}"
notify = ["oncall"]
"""


def test_doctor_fails_a_channel_whose_variable_is_unset(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/news.xml"] = Reply(b"<rss/>")
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port, extra=CHANNELS)

    result = harness.harken("doctor")

    assert result.returncode == 1
    assert (
        "FAIL  channel ops: channel ops: the environment variable HARKEN_TEST_UNSET_TOKEN is not"
        " set; [channels.ops] url needs it (fix: set it in the environment harken runs in"
    ) in result.stdout
