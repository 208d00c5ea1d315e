"""The web inbox as people use it, over real HTTP: sign in, read, filter, search, answer alerts;
and what it refuses: visitors, wrong passwords, guessers, viewers, forged forms."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.web.views import MAX_FAILURES
from tests.test_retention import write_config
from tests.web import PASSWORD, SECRET, XSS_URL, Inbox, csrf_of, free_socket, serve, sign_in


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    write_config(tmp_path, "")
    yield from serve(tmp_path)


def harken(folder: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(folder / "config.toml"), *args],
        cwd=folder,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )


def test_a_visitor_is_sent_to_sign_in(inbox: Inbox) -> None:
    with inbox.client() as client:
        for path in ("/", f"/mentions/{inbox.outage_id}"):
            answer = client.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")
        assert "Acme" not in client.get("/login").text


def test_signing_in_sets_a_safe_cookie_and_goes_where_asked(inbox: Inbox) -> None:
    with inbox.client() as client:
        token = csrf_of(client.get("/login").text)
        answer = client.post(
            "/login",
            data={"csrf": token, "name": "vic", "password": PASSWORD, "next": "//evil.example/"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"  # never another site
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie  # plain http here; https requests get Secure
        assert "Acme outage" in client.get("/").text


def test_a_wrong_password_is_refused_and_logged_without_it(
    inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="harken.web"), inbox.client() as client:
        answer = sign_in(client, "rory", "not the password at all")
        assert answer.status_code == 401
        assert "Wrong name or password" in answer.text
        assert client.get("/").status_code == 303  # still not signed in
    logged = caplog.text
    assert "rory" in logged
    assert "wrong password" in logged
    assert "not the password at all" not in logged


@pytest.mark.slow
def test_sign_ins_are_refused_after_repeated_failures(inbox: Inbox) -> None:
    with inbox.client() as client:
        for _ in range(MAX_FAILURES):
            assert sign_in(client, "rory", "guess guess guess").status_code == 401
        # Now even the right password is refused: the limit does not tell guesses apart.
        limited = sign_in(client, "rory", PASSWORD)
        assert limited.status_code == 429
        assert "Too many failed sign-ins" in limited.text
        # Only that name is limited: a colleague signs in from the same address.
        assert sign_in(client, "vic", PASSWORD).status_code == 303


def test_the_inbox_lists_newest_first_filters_and_searches(inbox: Inbox) -> None:
    with inbox.signed_in("vic") as client:
        page = client.get("/").text
        assert page.index(f"/mentions/{inbox.hostile_id}") < page.index("Acme outage")
        assert "Acme was slow last month" in page
        assert "Acme was slow" not in client.get("/?period=7d").text
        urgent = client.get("/?severity=urgent").text
        assert "Acme outage" in urgent
        assert "version two" not in urgent
        forum = client.get("/?source=forum&sentiment=positive").text
        assert "version two" in forum
        assert "Acme outage" not in forum
        assert "Acme outage" in client.get("/?state=open").text
        assert "Acme outage" not in client.get("/?state=resolved").text
        assert "Acme outage" in client.get("/?tag=OUTAGE").text
        found = client.get("/", params={"q": "support answer"}).text
        assert "Acme outage" in found
        assert "version two" not in found
        broken = client.get("/", params={"q": '"unclosed'})
        assert broken.status_code == 200
        assert "never closed" in broken.text


def test_paging_goes_to_older_mentions(inbox: Inbox) -> None:
    with inbox.signed_in("vic") as client:
        older = client.get("/", params={"before": inbox.outage_id}).text
        assert "Acme was slow last month" in older
        assert "Acme outage" not in older


def test_a_mention_page_renders_hostile_text_inert(inbox: Inbox) -> None:
    with inbox.signed_in("vic") as client:
        for path in (f"/mentions/{inbox.hostile_id}", "/"):
            page = client.get(path).text
            assert "<script>alert" not in page
            assert "<img src=x" not in page
            assert 'href="javascript' not in page.lower()
        page = client.get(f"/mentions/{inbox.hostile_id}").text
        assert "&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;" in page
        assert XSS_URL in page  # shown as text, so people see what it was
        assert 'href="javascript' not in page.lower()


@pytest.mark.slow
def test_a_responder_acknowledges_and_resolves_an_alert(inbox: Inbox, tmp_path: Path) -> None:
    with inbox.signed_in("rory") as client:
        page = client.get(f"/mentions/{inbox.outage_id}").text
        assert "Acknowledge" in page
        alert_id = inbox.storage.mention_alert_ids(inbox.outage_id)[0]
        acked = client.post(f"/alerts/{alert_id}/ack", data={"csrf": csrf_of(page)})
        assert acked.status_code == 303
        assert acked.headers["location"] == f"/mentions/{inbox.outage_id}#alert-{alert_id}"
        page = client.get(f"/mentions/{inbox.outage_id}").text
        assert "acknowledged by rory via web" in page
        resolved = client.post(
            f"/alerts/{alert_id}/resolve", data={"csrf": csrf_of(page), "note": "refunds sent"}
        )
        assert resolved.status_code == 303
    shown = harken(tmp_path, "alerts", "show", str(alert_id))
    assert shown.returncode == 0, shown.stderr
    assert "acknowledged by rory (web)" in shown.stdout
    assert "refunds sent" in shown.stdout


def test_a_viewer_sees_no_buttons_and_may_not_answer(inbox: Inbox) -> None:
    alert_id = inbox.storage.mention_alert_ids(inbox.outage_id)[0]
    with inbox.signed_in("vic") as client:
        page = client.get(f"/mentions/{inbox.outage_id}").text
        assert "Acknowledge" not in page
        assert "Resolve" not in page
        answer = client.post(f"/alerts/{alert_id}/ack", data={"csrf": csrf_of(page)})
        assert answer.status_code == 403
    status = inbox.storage.alert_status(alert_id)
    assert status is not None
    assert status.state == "open"


def test_a_form_without_its_csrf_token_is_refused(inbox: Inbox) -> None:
    alert_id = inbox.storage.mention_alert_ids(inbox.outage_id)[0]
    with inbox.signed_in("rory") as client:
        assert client.post(f"/alerts/{alert_id}/ack").status_code == 403
        assert client.post(f"/alerts/{alert_id}/ack", data={"csrf": "forged"}).status_code == 403
    with inbox.client() as stranger:
        # A token from another session is as good as none.
        other = csrf_of(stranger.get("/login").text)
    with inbox.signed_in("rory") as client:
        assert client.post(f"/alerts/{alert_id}/ack", data={"csrf": other}).status_code == 403
    with inbox.client() as client:
        refused = client.post("/login", data={"name": "rory", "password": PASSWORD})
        assert refused.status_code == 403
    status = inbox.storage.alert_status(alert_id)
    assert status is not None
    assert status.state == "open"


def test_every_response_carries_the_security_headers(inbox: Inbox) -> None:
    with inbox.signed_in("vic") as client:
        for path in ("/", "/login", f"/mentions/{inbox.hostile_id}", "/static/harken.css", "/nope"):
            headers = client.get(path).headers
            policy = headers["content-security-policy"]
            assert "default-src 'self'" in policy
            assert "script-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["referrer-policy"] == "same-origin"


@pytest.mark.slow
def test_signing_out_and_a_password_change_end_the_session(inbox: Inbox, tmp_path: Path) -> None:
    with inbox.signed_in("vic") as client:
        page = client.get("/").text
        assert client.post("/logout", data={"csrf": csrf_of(page)}).status_code == 303
        assert client.get("/").status_code == 303
    with inbox.signed_in("vic") as client:
        changed = harken(
            tmp_path, "users", "passwd", "vic", "--password-stdin", stdin="a new long password\n"
        )
        assert changed.returncode == 0, changed.stderr
        assert client.get("/").status_code == 303


@pytest.mark.slow
def test_users_are_added_listed_and_never_take_a_password_from_argv(tmp_path: Path) -> None:
    write_config(tmp_path, "")
    added = harken(
        tmp_path,
        "users",
        "add",
        "sam",
        "--role",
        "responder",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    assert added.returncode == 0, added.stderr
    again = harken(
        tmp_path,
        "users",
        "add",
        "sam",
        "--role",
        "viewer",
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    assert again.returncode == 1
    assert "already" in again.stderr
    short = harken(
        tmp_path, "users", "add", "kim", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2
    assert "at least" in short.stderr
    role = harken(
        tmp_path, "users", "add", "kim", "--role", "boss", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert role.returncode == 2
    listed = harken(tmp_path, "users", "list")
    assert "sam" in listed.stdout
    assert "responder" in listed.stdout
    assert "kim" not in listed.stdout
    assert PASSWORD not in listed.stdout
    assert "argon2" not in listed.stdout
    argv = harken(tmp_path, "users", "add", "lee", "--role", "viewer", "--password", PASSWORD)
    assert argv.returncode == 2


@pytest.mark.slow
def test_harken_web_serve_needs_the_secret_and_then_serves(tmp_path: Path) -> None:
    write_config(tmp_path, "")
    environ = {key: value for key, value in os.environ.items() if key != "HARKEN_WEB_SECRET"}
    command = [sys.executable, "-m", "monitor", "--config", str(tmp_path / "config.toml")]
    refused = subprocess.run(
        [*command, "web", "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    assert "HARKEN_WEB_SECRET" in refused.stderr
    with free_socket() as sock:
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [*command, "web", "serve", "--listen", f"127.0.0.1:{port}"],
        env={**environ, "HARKEN_WEB_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "harken web serve did not answer within 30 s"
                time.sleep(0.1)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2F"
    finally:
        server.terminate()
        server.communicate(timeout=10)  # waits, and closes the stderr pipe
