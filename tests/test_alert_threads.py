"""Alert subjects tell mentions apart, and alerts about one story thread in a mail client."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitor.alerts import alert_subject
from monitor.mail.mailer import Mailer
from monitor.mention import Verdict
from monitor.storage import Storage
from tests.servers import SmtpServer
from tests.test_alerts import NOW, deliver, make_config, queue, storage, urgent

__all__ = ["storage"]  # the fixture, shared with test_alerts


def on_story(item_id: str, story: str, title: str = "") -> Verdict:
    """A Hacker News comment on ``story``: its own URL, the story as its thread."""
    verdict = urgent(item_id, title=title or f"Comment {item_id} about Acme")
    mention = dataclasses.replace(verdict.mention, thread_id=story)
    return dataclasses.replace(verdict, mention=mention)


def test_five_alerts_have_five_subjects_each_naming_its_title() -> None:
    titles = [f"Acme support ignored ticket {n}" for n in range(5)]

    subjects = {alert_subject(urgent(str(n), title=title)) for n, title in enumerate(titles)}

    assert len(subjects) == 5
    assert alert_subject(urgent("1", title="Acme ate my homework")) == (
        "[Harken] URGENT: Acme ate my homework (negative mention of Acme on hn_acme)"
    )


def test_a_long_title_is_cut_at_a_word_and_a_missing_one_falls_back_to_the_text() -> None:
    long = "Acme " + "refund " * 30

    subject = alert_subject(urgent("1", title=long))
    untitled = alert_subject(urgent("2", title=""))

    headline = subject.removeprefix("[Harken] URGENT: ").split(" (negative")[0]
    assert 40 <= len(headline) <= 80
    assert headline.endswith("refund…")
    assert untitled.startswith("[Harken] URGENT: <script>alert(1)</script> Acme lost my data (")


def test_hostile_titles_cannot_add_headers_and_non_ascii_is_encoded(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, urgent("1", title="\x1b[31m Acme\tça  coûte € \u202e\r\nBcc: evil@x\u2028Cc: y"))

    deliver(storage, config)

    [message] = smtp_server.inbox
    assert message["Bcc"] is None
    assert message["Cc"] is None
    assert message["X-Envelope-To"] == "ops@example.org, cto@example.org"
    raw = message.as_bytes()
    assert b"=?utf-8?" in raw  # the email library encoded the non-ASCII title
    assert str(message["Subject"]) == (
        "[Harken] URGENT: [31m Acme ça coûte € (negative mention of Acme on hn_acme)"
    )


def test_later_alerts_about_one_story_reply_to_the_first(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, on_story("11", story="10"))
    deliver(storage, config)
    queue(storage, on_story("12", story="10"), urgent("13"))

    deliver(storage, config, NOW)

    first, second, unrelated = smtp_server.inbox
    assert first["In-Reply-To"] is None
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"] == first["Message-ID"]
    assert unrelated["In-Reply-To"] is None


def test_an_escalation_replies_to_the_alert_it_escalates(
    tmp_path: Path, smtp_server: SmtpServer, storage: Storage
) -> None:
    config = make_config(tmp_path, smtp_server.port)
    queue(storage, on_story("11", story="10"))
    deliver(storage, config)
    queue(storage, on_story("12", story="10"))
    deliver(storage, config)
    second_id = storage.alert_statuses()[-1].id

    assert storage.escalate_alert(second_id, 0, [(1, ("oncall",))], NOW)
    deliver(storage, config)

    first, second, escalation = smtp_server.inbox
    assert escalation["Message-ID"] == f"<harken-alert-{second_id}-level-1@harken>"
    assert escalation["In-Reply-To"] == second["Message-ID"]
    assert escalation["References"] == f"{first['Message-ID']} {second['Message-ID']}"
    assert str(escalation["Subject"]).startswith(
        "[Harken] ESCALATED to level 1: URGENT: Comment 12"
    )


def test_a_malformed_reference_is_refused_before_anything_is_sent(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    mailer = Mailer(make_config(tmp_path, smtp_server.port).settings.email)

    with pytest.raises(ValueError, match="malformed Message-ID"):
        mailer.send(
            ["ops@example.org"], "s", "t", None, "<a@harken>", references=["<b>\r\nBcc: x@y"]
        )
    assert smtp_server.inbox == []
