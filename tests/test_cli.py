"""User stories for the ``harken`` command, run as a subprocess against real local servers."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import REPO, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer

NEWS = rss_feed(
    ("n1", "Acme Cloud ships a new region", "Acme Cloud opened a region in Oslo today."),
    (
        "n2",
        "Acme is a scam",
        "Acme charged me twice, support ignores me and I am furious. Terrible, awful service!",
    ),
    ("n3", "Weather this weekend", "Sunny with light winds."),
    ("n4", "Acme Hardware opens a store", "Nails and hammers at Acme Hardware."),
    ("n5", "Love the new @acme dashboard", "The new dashboard is great, well done."),
)


@pytest.fixture
def harness(tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer) -> Harness:
    http_server.routes["/news.xml"] = Reply(
        NEWS, headers={"Content-Type": "application/rss+xml", "ETag": '"v1"'}
    )
    harness = Harness(tmp_path)
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port)
    return harness


def stored_titles(database: Path) -> list[str]:
    with sqlite3.connect(database) as connection:
        return sorted(row[0] for row in connection.execute("select title from mentions"))


@pytest.mark.slow
def test_poll_stores_brand_mentions_and_alerts_the_negative_one_once(
    harness: Harness, smtp_server: SmtpServer, http_server: HttpServer
) -> None:
    first = harness.harken("poll")
    assert first.returncode == 0, first.stderr
    assert "news" in first.stdout
    assert stored_titles(harness.database) == [
        "Acme Cloud ships a new region",
        "Acme is a scam",
        "Love the new @acme dashboard",
    ]
    assert len(smtp_server.inbox) == 1
    alert = smtp_server.inbox[0]
    assert alert["Subject"].startswith("[Harken] URGENT")
    assert alert["X-Envelope-To"] == "oncall@example.com"
    assert "Acme is a scam" in alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # The server now answers 304; change the feed's validator too, so the items are re-read.
    http_server.routes["/news.xml"] = Reply(NEWS, headers={"ETag": '"v2"'})
    second = harness.harken("poll")
    assert second.returncode == 0, second.stderr
    assert len(stored_titles(harness.database)) == 3
    assert len(smtp_server.inbox) == 1

    out = harness.folder / "digest.html"
    digest = harness.harken("digest", "--since", "24h", "--out", str(out))
    assert digest.returncode == 0, digest.stderr
    html = out.read_text()
    for title in (
        "Acme Cloud ships a new region",
        "Acme is a scam",
        "Love the new @acme dashboard",
    ):
        assert title in html
    assert "Weather this weekend" not in html
    assert out.with_suffix(".txt").exists()


@pytest.mark.slow
def test_second_poll_sends_conditional_request_and_costs_nothing(
    harness: Harness, http_server: HttpServer
) -> None:
    assert harness.harken("poll").returncode == 0
    assert harness.harken("poll").returncode == 0
    second_request_headers = http_server.requests[-1][1]
    assert second_request_headers.get("If-None-Match") == '"v1"'


@pytest.mark.slow
def test_a_broken_source_fails_alone_and_keeps_what_was_stored(
    harness: Harness, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/broken.xml"] = Reply(b"oops", status=500)
    http_server.routes["/page.html"] = Reply(
        b"<html><body>Hello</body></html>", headers={"Content-Type": "text/html"}
    )
    http_server.routes["/slow.xml"] = Reply(NEWS, delay=4)
    harness.write_config(
        {
            "news": http_server.url("/news.xml"),
            "broken": http_server.url("/broken.xml"),
            "page": http_server.url("/page.html"),
            "slow": http_server.url("/slow.xml"),
        },
        smtp_server.port,
    )
    result = harness.harken("poll")
    assert result.returncode == 1
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "HTTP 500" in lines["broken"]
    assert "HTML" in lines["page"]
    assert "timed out" in lines["slow"]
    assert len(stored_titles(harness.database)) == 3
    assert "broken cannot be reached: " in result.stderr


@pytest.mark.slow
def test_a_broken_rule_file_is_named_and_nothing_starts(
    harness: Harness, smtp_server: SmtpServer, http_server: HttpServer
) -> None:
    rules = harness.folder / "rules"
    rules.mkdir()
    (rules / "bad.toml").write_text(
        '[[rule]]\nname = "outage"\ndescription = "x"\nsentimnet_below = -0.5\nseverity = "urgent"\n',
        encoding="utf-8",
    )
    harness.write_config({"news": http_server.url("/news.xml")}, smtp_server.port, rules=rules)

    check = harness.harken("rules", "check")
    assert check.returncode == 1
    assert "rules/bad.toml:4:1:" in check.stdout
    assert 'did you mean "sentiment_below"' in check.stdout

    for command in ("poll", "run"):
        refused = harness.harken(command, timeout=20)
        assert refused.returncode == 1
        assert "rules/bad.toml:4:1:" in refused.stderr
    assert not http_server.requests  # nothing was polled with a broken rule set


@pytest.mark.slow
def test_rules_check_passes_on_the_shipped_rules(harness: Harness) -> None:
    result = harness.harken("rules", "check")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("ok: ")


@pytest.mark.slow
def test_hostile_text_is_escaped_in_html_and_kept_out_of_headers(
    harness: Harness, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/news.xml"] = Reply(
        rss_feed(
            (
                "h1",
                "Acme is a scam\r\nBcc: victim@evil.example",
                "Acme stole my money. Terrible, awful, I am furious! &lt;script&gt;alert(1)&lt;/script&gt;",
            )
        )
    )
    assert harness.harken("poll").returncode == 0
    assert len(smtp_server.inbox) == 1
    alert = smtp_server.inbox[0]
    assert alert["Bcc"] is None
    assert "evil.example" not in str(alert["Subject"]) + str(alert["X-Envelope-To"])
    html_part = alert.get_body(("html",))
    assert html_part is not None
    assert "<script>" not in html_part.get_content()
    assert "&lt;script&gt;" in html_part.get_content()

    out = harness.folder / "digest.html"
    assert harness.harken("digest", "--out", str(out)).returncode == 0
    html = out.read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.slow
def test_triage_reads_json_lines_and_reports_bad_lines_by_number(harness: Harness) -> None:
    lines = [
        json.dumps(
            {"id": "a", "text": "Acme support is useless, still waiting for my refund. Awful!"}
        ),
        "{not json",
        json.dumps({"id": "b", "text": "Lovely weather today"}),
        json.dumps({"text": "no id here"}),
        json.dumps(
            {"id": 3, "text": "Acme Cloud is great, thanks team", "metrics": {"followers": 10}}
        ),
    ]
    result = harness.harken("triage", stdin="\n".join(lines) + "\n")
    assert result.returncode == 1  # some lines were bad
    verdicts = [json.loads(line) for line in result.stdout.splitlines()]
    assert [verdict["id"] for verdict in verdicts] == ["a", "b", "3"]
    angry, unrelated, happy = verdicts
    assert angry["matched"] is True
    assert angry["brands"] == ["Acme"]
    assert angry["sentiment"]["label"] == "negative"
    assert angry["severity"] in {"urgent", "high"}
    assert angry["rules"]
    assert angry["reasons"]
    assert unrelated == unrelated | {"matched": False, "severity": "ignore", "brands": []}
    assert happy["sentiment"]["label"] == "positive"
    assert "line 2:" in result.stderr
    assert 'line 4: missing required field "id"' in result.stderr
    assert not harness.database.exists()  # triage never touches the database


@pytest.fixture
def daemon(harness: Harness) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(harness.config), "run"],
        cwd=harness.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.mark.slow
def test_run_polls_on_schedule_and_stops_cleanly_on_sigterm(
    daemon: subprocess.Popen[str], harness: Harness, smtp_server: SmtpServer
) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not smtp_server.inbox:
        time.sleep(0.1)
    assert len(smtp_server.inbox) == 1, (
        "the daemon should poll at start and alert the negative mention"
    )
    daemon.send_signal(signal.SIGTERM)
    output, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, output
    assert "harken stopped" in output
    assert len(stored_titles(harness.database)) == 3


@pytest.mark.slow
def test_demo_runs_offline_and_writes_what_it_would_send(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--config",
            str(REPO / "config.toml"),
            "demo",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    alerts = sorted(out.glob("harken-alert-*.txt"))
    assert alerts, result.stdout
    assert all("URGENT" in path.read_text() for path in alerts)
    # Counted as emails, not files: each alert is written as text and as HTML.
    assert f"{len(alerts)} urgent alerts Harken would email" in result.stdout
    digest = (out / "digest.html").read_text()
    assert "Acme is a scam" in digest
    assert "Acme Hardware opens" not in digest  # excluded: not our brand
    assert str(out / "digest.html") in result.stdout

    # The command an alert gives for a terminal works on what the demo made.
    [command] = {
        line.split("Or in a terminal: ", 1)[1]
        for line in alerts[0].read_text().splitlines()
        if "Or in a terminal: " in line
    }
    alert_id = alerts[0].name.removeprefix("harken-alert-").removesuffix(".txt")
    args = shlex.split(command.replace("NAME", "demo-user"))
    assert args[:2] == ["harken", "--config"]
    acked = subprocess.run(
        [sys.executable, "-m", "monitor", *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert acked.returncode == 0, acked.stderr
    assert f"alert {alert_id} acknowledged by demo-user" in acked.stdout
    # The sample posts are dated inside the digest's day, hours apart: the chart has a shape.
    chart = next(line for line in (out / "digest.txt").read_text().splitlines() if "█" in line)
    assert len({bar for bar in chart if bar != "▁"}) >= 2, chart


@pytest.mark.slow
def test_triage_keeps_input_order_across_worker_processes(harness: Harness) -> None:
    lines = [
        json.dumps({"id": n, "text": f"Acme order {n} arrived late, awful"}) for n in range(1, 1001)
    ]
    lines[699] = "{broken"
    result = harness.harken("triage", "--jobs", "2", stdin="\n".join(lines) + "\n")
    assert result.returncode == 1
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [str(n) for n in range(1, 1001) if n != 700]
    assert result.stderr.startswith("line 700: not valid JSON")


@pytest.mark.slow
def test_digest_send_emails_marketing_html_with_a_text_alternative(
    harness: Harness, smtp_server: SmtpServer
) -> None:
    assert harness.harken("poll").returncode == 0
    alerts = len(smtp_server.inbox)
    result = harness.harken("digest", "--since", "7d", "--send")
    assert result.returncode == 0, result.stderr
    digest = smtp_server.inbox[alerts]
    assert digest["X-Envelope-To"] == "marketing@example.com"
    assert digest.get_content_type() == "multipart/alternative"
    assert "Acme is a scam" in digest.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Acme is a scam" in digest.get_body(("html",)).get_content()  # type: ignore[union-attr]


@pytest.mark.slow
def test_digest_without_an_output_says_what_to_give(harness: Harness) -> None:
    result = harness.harken("digest")
    assert result.returncode == 2
    assert "--out" in result.stderr


@pytest.mark.slow
def test_one_story_through_two_sources_is_stored_and_alerted_once(
    harness: Harness, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    angry = "Acme lost my order and support ignores me. Terrible, awful service!"
    http_server.routes["/alerts.xml"] = Reply(
        rss_feed(("g1", "Acme loses orders", angry)).replace(
            b"https://news.example/g1",
            b"https://www.google.com/url?rct=j&amp;sa=t&amp;url=https://news.example/story%3Futm_source%3Dalert&amp;ct=ga",
        )
    )
    http_server.routes["/direct.xml"] = Reply(
        rss_feed(("d1", "Acme loses orders", angry)).replace(
            b"https://news.example/d1", b"https://news.example/story"
        )
    )
    harness.write_config(
        {"alerts": http_server.url("/alerts.xml"), "direct": http_server.url("/direct.xml")},
        smtp_server.port,
    )
    assert harness.harken("poll").returncode == 0
    with sqlite3.connect(harness.database) as connection:
        mentions = connection.execute("select url from mentions").fetchall()
        sightings = sorted(row[0] for row in connection.execute("select source from sightings"))
    assert mentions == [
        ("https://news.example/story?utm_source=alert",)
    ]  # the Google wrapper is gone
    assert sightings == ["alerts", "direct"]
    assert len(smtp_server.inbox) == 1


@pytest.mark.slow
def test_sources_list_shows_health_and_installed_kinds(
    harness: Harness, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/broken.xml"] = Reply(b"no", status=401)
    harness.write_config(
        {"news": http_server.url("/news.xml"), "broken": http_server.url("/broken.xml")},
        smtp_server.port,
        extra='[sources.quiet]\ntype = "rss"\nurl = "https://quiet.example/feed"\nenabled = false\n',
    )
    harness.harken("poll")
    result = harness.harken("sources", "list")
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "3" in rows["news"].split()  # three mentions stored in the last day
    assert "ok" in rows["news"]
    assert "disabled until restart" in rows["broken"]
    assert (
        "HTTP 401 Unauthorized: the platform refused our credentials; check the token"
        in (rows["broken"])
    )
    assert http_server.url("/broken.xml") not in rows["broken"]  # room for the advice instead
    assert "off (enabled = false)" in rows["quiet"]
    kinds = result.stdout.strip().splitlines()[-1]
    assert kinds == "installed kinds: bluesky, hackernews, mastodon, reddit, rss, x"


@pytest.mark.slow
def test_sources_test_shows_what_would_be_stored_and_stores_nothing(harness: Harness) -> None:
    result = harness.harken("sources", "test", "news")
    assert result.returncode == 0, result.stderr
    assert "Acme is a scam" in result.stdout
    assert "Weather this weekend" not in result.stdout
    assert result.stdout.strip().endswith("5 fetched, 5 new, 3 name a brand and would be stored")
    assert not harness.database.exists()
    unknown = harness.harken("sources", "test", "nope")
    assert unknown.returncode == 2
    assert 'no source "nope"' in unknown.stderr


@pytest.mark.slow
def test_rules_test_explains_one_post(harness: Harness) -> None:
    result = harness.harken(
        "rules", "test", "Acme is awful, terrible, I hate them", "--followers", "50"
    )
    assert result.returncode == 0, result.stderr
    assert "severity: urgent" in result.stdout
    assert "angry-complaint" in result.stdout
    assert "sentiment" in result.stdout.split("why:")[1]


@pytest.mark.slow
def test_rules_backtest_says_what_a_new_rule_set_would_change(harness: Harness) -> None:
    assert harness.harken("poll").returncode == 0  # "Acme is a scam" is stored as urgent
    calm = harness.folder / "calm"
    calm.mkdir()
    (calm / "calm.toml").write_text(
        '[[rule]]\nname = "everything-low"\ndescription = "nothing is urgent"\nseverity = "low"\n',
        encoding="utf-8",
    )
    result = harness.harken("rules", "backtest", "--since", "1d", "--rules", str(calm))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("replayed 3 mentions")
    no_longer = result.stdout.split("no longer urgent: ")[1]
    assert no_longer.startswith("1")
    assert "Acme is a scam" in no_longer
    assert "everything-low: 0 -> 3  (+3)" in result.stdout
    assert "angry-complaint: 1 -> 0  (-1)" in result.stdout


@pytest.mark.slow
def test_json_logs_name_the_source_and_never_carry_a_secret(
    harness: Harness, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    secret = "s3cr3t-Password-that-must-not-leak"
    http_server.routes["/broken.xml"] = Reply(b"no", status=500)
    harness.write_config(
        {"news": http_server.url("/news.xml"), "broken": http_server.url("/broken.xml")},
        smtp_server.port,
        extra='[web]\nsecret_env = "HARKEN_TEST_WEB_SECRET"\n',
    )
    config = harness.config.read_text().replace(
        'from = "harken@example.com"',
        'from = "harken@example.com"\nusername = "harken"\npassword_env = "HARKEN_TEST_SMTP"',
    )
    harness.config.write_text(config)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--log-format",
            "json",
            "--config",
            str(harness.config),
            "poll",
        ],
        cwd=harness.folder,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "HARKEN_TEST_SMTP": secret,
            "HARKEN_TEST_WEB_SECRET": secret + "-web-0123456789abcdef",
        },
        check=False,
    )
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert records, result.stderr
    failing = [record for record in records if record.get("source") == "broken"]
    assert failing
    assert "HTTP 500" in failing[0]["message"]
    assert secret not in result.stderr + result.stdout


@pytest.mark.slow
def test_triage_reads_drawn_out_words_and_what_a_customer_cannot_do(harness: Harness) -> None:
    lines = [
        {"id": 1, "text": "@acme I cannot see my photos since the update"},
        {"id": 2, "text": "@acme the new app is sooo baaad"},
        {"id": 3, "text": "I can't wait for the new Acme phone"},
    ]
    result = harness.harken("triage", stdin="".join(json.dumps(line) + "\n" for line in lines))
    assert result.returncode == 0, result.stderr
    labels = [json.loads(line)["sentiment"]["label"] for line in result.stdout.splitlines()]
    assert labels[:2] == ["negative", "negative"]
    assert labels[2] != "negative"
