"""Mailer: real SMTP conversations with a local aiosmtpd server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.settings import EmailSettings
from monitor.errors import DeliveryError
from monitor.mail.mailer import Mailer, clean_header
from tests.servers import SmtpServer, free_port

SENT_AT = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)


def mailer_for(port: int, **settings: object) -> Mailer:
    return Mailer(
        EmailSettings.model_validate(
            {"host": "127.0.0.1", "port": port, "from": "harken@example.org", **settings}
        )
    )


def test_a_message_arrives_as_text_then_html_with_its_message_id(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server.port)

    mailer.send(
        ["ops@example.org", "pr@example.org"],
        "[Harken] URGENT: negative mention of Acme on hn_acme",
        "Acme is down",
        "<p>Acme is down</p>",
        "<harken-alert-1@harken>",
        date=SENT_AT,
    )

    [message] = smtp_server.inbox
    assert message["X-Envelope-To"] == "ops@example.org, pr@example.org"
    assert message["To"] == "ops@example.org, pr@example.org"
    assert message["From"] == "harken@example.org"
    assert message["Subject"] == "[Harken] URGENT: negative mention of Acme on hn_acme"
    assert message["Message-ID"] == "<harken-alert-1@harken>"
    assert message["Date"] == "Thu, 02 May 2024 08:00:00 +0000"
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert text.get_content_type() == "text/plain"
    assert text.get_content().strip() == "Acme is down"
    assert html.get_content_type() == "text/html"
    assert html.get_content().strip() == "<p>Acme is down</p>"


def test_a_text_only_message_is_plain(smtp_server: SmtpServer) -> None:
    mailer_for(smtp_server.port).send(
        ["ops@example.org"], "Hello", "Just text", None, "<harken-test-1@harken>"
    )

    [message] = smtp_server.inbox
    assert message.get_content_type() == "text/plain"


def test_line_breaks_in_the_subject_cannot_add_headers(smtp_server: SmtpServer) -> None:
    mailer_for(smtp_server.port).send(
        ["ops@example.org"],
        "Acme\r\nBcc: evil@x\nX-Injected: yes\x00\u2028Cc: evil@y",
        "text",
        None,
        "<harken-test-2@harken>",
    )

    [message] = smtp_server.inbox
    assert message["Bcc"] is None
    assert message["Cc"] is None
    assert message["X-Injected"] is None
    assert message["X-Envelope-To"] == "ops@example.org"
    assert message["Subject"] == "Acme Bcc: evil@x X-Injected: yes Cc: evil@y"


def test_headers_are_one_line_and_capped() -> None:
    assert clean_header("a\tb\r\n  c\x1b[31m\u202eevil") == "a b c [31m evil"
    long = clean_header("word " * 100)
    assert len(long) == 200
    assert long.endswith("…")


def test_a_recipient_that_is_not_an_address_is_refused_before_connecting() -> None:
    mailer = mailer_for(free_port())

    with pytest.raises(DeliveryError, match=r"not an email address: a@b\.c evil@x"):
        mailer.send(["a@b.c\r\nevil@x"], "s", "t", None, "<harken-test-3@harken>")


def test_a_server_that_refuses_is_a_delivery_error(smtp_server: SmtpServer) -> None:
    smtp_server.refusing = True
    mailer = mailer_for(smtp_server.port)

    with pytest.raises(DeliveryError) as caught:
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-4@harken>")

    assert str(caught.value) == (
        f"SMTP 127.0.0.1:{smtp_server.port}: server answered 451 Try again later"
    )
    assert smtp_server.inbox == []


def test_a_server_that_is_down_is_a_delivery_error() -> None:
    port = free_port()

    with pytest.raises(DeliveryError, match=rf"^SMTP 127\.0\.0\.1:{port}: connection refused$"):
        mailer_for(port).send(["ops@example.org"], "s", "t", None, "<harken-test-5@harken>")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield int(listener.getsockname()[1])


def test_a_server_that_never_answers_times_out(silent_port: int) -> None:
    mailer = mailer_for(silent_port, timeout=timedelta(seconds=0.3))

    with pytest.raises(DeliveryError, match=r"timed out after 0\.3s"):
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-6@harken>")


def test_a_missing_password_variable_is_named(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server.port, username="harken", password_env="HARKEN_TEST_SMTP_PW")

    with pytest.raises(DeliveryError, match="environment variable HARKEN_TEST_SMTP_PW is not set"):
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-7@harken>")


def test_a_failed_login_never_shows_the_password(
    smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARKEN_TEST_SMTP_PW", "s3cret-pa55")
    mailer = mailer_for(smtp_server.port, username="harken", password_env="HARKEN_TEST_SMTP_PW")

    # The test server offers no AUTH, so the login fails before a password is sent.
    with pytest.raises(DeliveryError) as caught:
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-8@harken>")

    assert "does not support login" in str(caught.value)
    assert "s3cret-pa55" not in str(caught.value)
    assert smtp_server.inbox == []


def test_starttls_against_a_server_without_it_is_explained(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server.port, security="starttls")

    with pytest.raises(DeliveryError, match=r"does not support STARTTLS; check \[email\] security"):
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-9@harken>")


def test_ssl_against_a_plain_server_is_explained(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server.port, security="ssl", timeout=timedelta(seconds=2))

    with pytest.raises(DeliveryError, match=r"TLS failed .*check \[email\] security and port"):
        mailer.send(["ops@example.org"], "s", "t", None, "<harken-test-10@harken>")


def test_a_malformed_message_id_is_a_programming_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(ValueError, match="malformed Message-ID"):
        mailer_for(smtp_server.port).send(["a@b.c"], "s", "t", None, "<x>\r\nBcc: evil@x")
