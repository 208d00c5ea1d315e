"""The links in alert emails, clicked for real: HTTP requests to the daemon's endpoint on 127.0.0.1.

A GET never acts; the POST behind its button acts once; forged, expired and replayed links are
refused with a page that says why; the secret shows up in no page and no log.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from monitor.alerts import Links, configured_links
from monitor.config.load import load_config
from monitor.config.settings import WebSettings
from monitor.errors import ConfigError
from monitor.mention import Mention, Poll, Sentiment, Severity, Verdict
from monitor.storage import Storage
from monitor.web.app import create_app
from monitor.web.serve import WebServer, bind
from tests.harness import Clock, Harness, rss_feed
from tests.servers import HttpServer, Reply, SmtpServer, free_port

SECRET = "s3cret-" + "x" * 40
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TTL = timedelta(days=7)


def urgent(item_id: str, title: str) -> Verdict:
    return Verdict(
        mention=Mention(
            source="news", id=item_id, text="Acme is down for everyone", title=title, url=""
        ),
        matched=True,
        brands=("Acme",),
        sentiment=Sentiment(compound=-0.8, label="negative"),
        severity=Severity.URGENT,
        notify=("oncall",),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(f"sqlite:///{tmp_path / 'harken.db'}")
    verdicts = [urgent("1", "Acme is down <script>alert(1)</script>"), urgent("2", "Acme again")]
    poll = Poll(mentions=tuple(v.mention for v in verdicts), cursor={}, fetched=2)
    store.save_poll("news", poll, verdicts, NOW)
    yield store
    store.close()


@pytest.fixture
def links() -> Links:
    return Links(SECRET, "http://placeholder", TTL)


@pytest.fixture
def client(storage: Storage, links: Links, clock: Clock) -> Iterator[httpx.Client]:
    # The links alone, without the inbox (no session secret): everything else is not found.
    app = create_app(storage, None, now=clock, timezone="Europe/London", links=links)
    server = WebServer(app, bind("127.0.0.1", 0)).start()
    with httpx.Client(base_url=server.url, timeout=5) as http:
        yield http
    server.stop()


def link(links: Links, alert_id: int, action: str, now: datetime = NOW) -> str:
    return links.path(alert_id, action, now)


def title(page: httpx.Response) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page.text)
    assert found, page.text
    return found[1]


def test_a_get_only_shows_what_the_link_would_do(
    client: httpx.Client, links: Links, storage: Storage
) -> None:
    page = client.get(link(links, 1, "ack"))

    assert page.status_code == 200
    assert title(page) == "Acknowledge alert 1?"
    assert '<form method="post">' in page.text
    assert '<input name="by" required' in page.text
    assert "Acknowledge alert 1</button>" in page.text
    assert "&lt;script&gt;" in page.text
    assert "<script>" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert client.head(link(links, 1, "ack")).status_code == 200
    status = storage.alert_status(1)
    assert status is not None
    assert status.state == "open"
    assert [event.action for event in storage.alert_events(1)] == ["raised"]


def test_the_button_acknowledges_once_and_records_who_and_when(
    client: httpx.Client, links: Links, storage: Storage, clock: Clock
) -> None:
    clock.now = NOW + timedelta(minutes=4, seconds=30)

    done = client.post(link(links, 1, "ack"), data={"by": "Alice Smith"})

    assert done.status_code == 200
    assert title(done) == (
        "Alert 1 acknowledged by Alice Smith at 2026-11-20 09:04 GMT; it will not escalate "
        "further (first response 4m 30s after Harken raised it)"
    )
    status = storage.alert_status(1)
    assert status is not None
    assert (status.state, status.acknowledged_by) == ("acknowledged", "Alice Smith")
    assert status.acknowledged_at == clock.now
    [event] = [e for e in storage.alert_events(1) if e.action == "acknowledged"]
    assert (event.who, event.via, event.at) == ("Alice Smith", "link", clock.now)

    clock.now += timedelta(minutes=1)
    replayed = client.post(link(links, 1, "ack"), data={"by": "Mallory"})
    assert replayed.status_code == 409
    assert title(replayed) == (
        "Alert 1 was already acknowledged by Alice Smith at 2026-11-20 09:04 GMT"
    )
    clicked_again = client.get(link(links, 1, "ack"))
    assert title(clicked_again) == (
        "Alert 1 was already acknowledged by Alice Smith at 2026-11-20 09:04 GMT"
    )
    assert "<form" not in clicked_again.text
    assert [e.who for e in storage.alert_events(1) if e.action == "acknowledged"] == ["Alice Smith"]


def test_after_an_ack_the_resolve_link_still_works_once(
    client: httpx.Client, links: Links, storage: Storage, clock: Clock
) -> None:
    client.post(link(links, 1, "ack"), data={"by": "alice"})
    form = client.get(link(links, 1, "resolve"))
    assert title(form) == "Resolve alert 1?"
    assert '<textarea name="note"' in form.text

    clock.now = NOW + timedelta(hours=1)
    done = client.post(link(links, 1, "resolve"), data={"by": "bob", "note": "Fixed the DNS"})

    assert done.status_code == 200
    assert title(done).startswith("Alert 1 resolved by bob at 2026-11-20 10:00 GMT")
    assert "Fixed the DNS" in done.text
    status = storage.alert_status(1)
    assert status is not None
    assert (status.state, status.resolved_by, status.resolution) == (
        "resolved",
        "bob",
        "Fixed the DNS",
    )
    again = client.post(link(links, 1, "resolve"), data={"by": "eve", "note": "x"})
    assert again.status_code == 409
    assert title(again) == "Alert 1 was already resolved by bob at 2026-11-20 10:00 GMT"
    late_ack = client.post(link(links, 1, "ack"), data={"by": "eve"})
    assert late_ack.status_code == 409
    assert "already resolved by bob" in title(late_ack)


def test_a_post_without_a_name_or_note_asks_for_it_and_does_nothing(
    client: httpx.Client, links: Links, storage: Storage
) -> None:
    nameless = client.post(link(links, 1, "ack"), data={"by": "  "})
    noteless = client.post(link(links, 2, "resolve"), data={"by": "alice", "note": ""})

    assert nameless.status_code == 400
    assert "Please give your name." in nameless.text
    assert noteless.status_code == 400
    assert "Please give a note." in noteless.text
    assert [s.state for s in storage.alert_statuses()] == ["open", "open"]


def forgeries(links: Links) -> list[str]:
    good = link(links, 1, "ack")
    parts = urlsplit(good)
    expires = re.search(r"expires=(\d+)", parts.query)
    signature = re.search(r"sig=([^&]+)", parts.query)
    assert expires
    assert signature
    later = str(int(expires[1]) + 86400 * 365)
    other = Links("another-secret-" + "y" * 40, "http://x", TTL)
    return [
        good.replace("/alerts/1/", "/alerts/2/"),  # another alert with this alert's signature
        good.replace("/ack?", "/resolve?"),  # another action
        good.replace(expires[1], later),  # a longer life
        good.replace(
            signature[1], signature[1][:-2] + ("AA" if signature[1][-2:] != "AA" else "BB")
        ),
        link(other, 1, "ack"),  # signed with another secret
    ]


def test_forged_links_are_refused_and_act_on_nothing(
    client: httpx.Client, links: Links, storage: Storage
) -> None:
    for forged in forgeries(links):
        shown = client.get(forged)
        posted = client.post(forged, data={"by": "mallory", "note": "pwned"})
        for page in (shown, posted):
            assert page.status_code == 403, forged
            assert title(page) == "This link is not valid"
    assert [s.state for s in storage.alert_statuses()] == ["open", "open"]
    assert all(e.action == "raised" for s in (1, 2) for e in storage.alert_events(s))


def test_an_expired_link_is_refused_with_the_command_to_use_instead(
    client: httpx.Client, links: Links, storage: Storage, clock: Clock
) -> None:
    ack = link(links, 1, "ack")
    clock.now = NOW + TTL + timedelta(seconds=1)

    shown = client.get(ack)
    posted = client.post(ack, data={"by": "alice"})

    for page in (shown, posted):
        assert page.status_code == 410
        assert title(page) == "This link has expired"
        assert "<code>harken alerts ack 1</code>" in page.text
    status = storage.alert_status(1)
    assert status is not None
    assert status.state == "open"
    fresh = client.post(link(links, 1, "ack", clock.now), data={"by": "alice"})
    assert fresh.status_code == 200


def test_what_is_not_a_link_is_not_found(client: httpx.Client, links: Links) -> None:
    good = link(links, 1, "ack")
    for path in ("/", "/alerts/1/ack", good.replace("/ack?", "/delete?"), "/alerts/x/ack?sig=a"):
        assert client.get(path).status_code == 404, path
    unknown = client.get(link(links, 999, "ack"))
    assert unknown.status_code == 404
    assert title(unknown) == "No alert 999"
    too_big = client.post(good, content=b"by=" + b"a" * 20_000)
    assert too_big.status_code == 413


def test_the_secret_and_signatures_never_reach_pages_or_logs(
    client: httpx.Client, links: Links, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    ack = link(links, 1, "ack")
    signature = re.search(r"sig=([^&]+)", ack)
    assert signature
    with caplog.at_level(logging.DEBUG):
        pages = [
            client.get(ack),
            client.post(ack, data={"by": "alice"}),
            client.post(ack, data={"by": "bob"}),
            *(client.get(forged) for forged in forgeries(links)),
        ]
        clock.now = NOW + TTL * 2
        pages.append(client.get(ack))

    for page in pages:
        assert SECRET not in page.text
        assert signature[1] not in page.text
    # Only Harken's own records: the test's HTTP client logs the whole URL it requests.
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(("harken", "monitor"))
    )
    assert "web: alert 1 acknowledged by alice" in ours
    assert "web: GET /alerts/1/ack -> 403" in ours
    assert SECRET not in ours
    assert signature[1] not in ours
    assert "Links(base_url='http://placeholder'" in repr(links)
    assert SECRET not in repr(links)


def test_links_need_a_long_secret_from_the_environment() -> None:
    web = WebSettings(listen="127.0.0.1:8765", secret_env="HARKEN_TEST_SECRET")

    missing, why = configured_links(web, {})
    assert missing is None
    assert why is not None
    assert "the environment variable HARKEN_TEST_SECRET is not set" in why
    short, why = configured_links(web, {"HARKEN_TEST_SECRET": "hunter2"})
    assert short is None
    assert why is not None
    assert "fewer than 32 characters" in why
    assert "hunter2" not in why
    made, why = configured_links(web, {"HARKEN_TEST_SECRET": SECRET})
    assert made is not None
    assert why is None
    assert made.base_url == "http://127.0.0.1:8765"
    assert configured_links(WebSettings(), {"HARKEN_WEB_SECRET": SECRET}) == (None, None)


# The daemon, end to end ---------------------------------------------------------------------


@pytest.mark.slow
def test_harken_run_serves_the_links_it_emails_and_stops_cleanly(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    http_server.routes["/news.xml"] = Reply(
        rss_feed(("n1", "Acme is a scam", "Acme charged me twice. Terrible, awful, furious!"))
    )
    port = free_port()
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "scam.toml").write_text(
        '[[rule]]\nname = "scam"\ndescription = "x"\nany_words = ["scam"]\nseverity = "urgent"\n'
    )
    harness = Harness(tmp_path)
    harness.write_config(
        {"news": http_server.url("/news.xml")},
        smtp_server.port,
        rules=rules,
        extra=f'\n[web]\nlisten = "127.0.0.1:{port}"\nsecret_env = "HARKEN_TEST_WEB_SECRET"\n',
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(harness.config), "run"],
        cwd=harness.folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HARKEN_TEST_WEB_SECRET": SECRET},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not smtp_server.inbox:
            time.sleep(0.1)
        [alert] = smtp_server.inbox
        text = alert.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = alert.get_body(("html",)).get_content()  # type: ignore[union-attr]
        ack = re.search(r"http://127\.0\.0\.1:\d+/alerts/1/ack\?\S+", text)
        assert ack, text
        assert "/alerts/1/resolve?" in text
        assert f'href="{ack[0].replace("&", "&amp;")}"' in html
        assert SECRET not in text + html

        assert httpx.get(ack[0], timeout=5).status_code == 200  # a scanner's pre-fetch
        # The same server has the web inbox, behind its sign-in.
        inbox = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert (inbox.status_code, inbox.headers["location"]) == (303, "/login?next=%2F")
        listed = harness.harken("alerts", "list")
        assert re.search(r"^1\s.*\sopen\s", listed.stdout, flags=re.M), listed.stdout
        done = httpx.post(ack[0], data={"by": "alice"}, timeout=5)
        assert done.status_code == 200
        listed = harness.harken("alerts", "list")
        assert re.search(r"^1\s.*\sacknowledged\s+0\s+alice\s", listed.stdout, flags=re.M)
    finally:
        daemon.send_signal(signal.SIGTERM)
        output, _ = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, output
    assert f"web: alert links served at http://127.0.0.1:{port}" in output
    assert "harken stopped" in output
    assert "uvicorn" not in output.lower()  # no access log, no start-up chatter
    assert SECRET not in output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('listen = "8765"', '"8765" is not host:port; write e.g. "127.0.0.1:8765"'),
        ('listen = "localhost:99999"', '"localhost:99999" is not host:port'),
        ('base_url = "ftp://x"', '"ftp://x" is not an http(s) address'),
        ('link_ttl = "forever"', '"forever" is not a duration'),
    ],
)
def test_a_mistake_in_the_web_section_is_named_with_its_line(
    tmp_path: Path, line: str, message: str
) -> None:
    harness = Harness(tmp_path)
    harness.write_config({}, 25, extra=f"\n[web]\n{line}\n")
    number = harness.config.read_text().splitlines().index(line) + 1

    with pytest.raises(ConfigError) as caught:
        load_config(harness.config)

    [problem] = caught.value.problems
    assert problem.line == number
    assert message in problem.message
