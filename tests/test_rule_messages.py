"""Rule and config mistakes a comms person makes, each told as a sentence they can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.errors import ConfigError
from tests.harness import Harness
from tests.servers import SmtpServer
from tests.test_rules import problems, write

RULE = '[[rule]]\nname = "r"\ndescription = "R"\n'


@pytest.mark.slow
def test_rules_check_names_a_reply_without_a_template_and_the_ones_there_are(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    harness = Harness(tmp_path)
    write(tmp_path, "replies.toml", RULE + 'reply = "outgae"\n')
    harness.write_config({}, smtp_server.port, rules=tmp_path / "rules")

    result = harness.harken("rules", "check")

    assert result.returncode == 1
    assert (
        'rules/replies.toml:4:1: rule "r": reply "outgae" names no template (did you mean '
        '"outage"?); '
    ) in result.stdout + result.stderr
    assert "templates/replies/ has: billing, complaint, delivery, outage" in (
        result.stdout + result.stderr
    )


def test_a_rule_written_with_single_brackets_twice_says_to_use_two(tmp_path: Path) -> None:
    write(tmp_path, "r.toml", '[rule]\nname = "a"\n\n[rule]\nname = "b"\n')

    assert problems(tmp_path) == [
        "rules/r.toml:4:6: TOML syntax: a second [rule] line: write [[rule]] (two pairs of "
        "square brackets) for each rule"
    ]


def test_an_unclosed_quote_says_where_it_opened_and_how_to_close_it(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", RULE + 'any_words = "refund\nseverity = "high"\n')
    write(tmp_path, "b.toml", RULE + 'any_words = ["refund, "late"]\n')

    first, second = problems(tmp_path)

    assert first == (
        'rules/a.toml:4:20: TOML syntax: the text that starts with " at line 4, column 13 is '
        'not closed; end it with " on the same line, e.g. any_words = "Acme"'
    )
    assert second.startswith("rules/b.toml:4:")
    assert 'the text that starts with " at line 4, column 28 is not closed' in second
    assert "check that each text on line 4 starts and ends with" in second


def test_a_misspelt_severity_gets_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "r.toml", RULE + 'severity = "urgnet"\n')

    assert problems(tmp_path) == [
        "rules/r.toml:4:1: rule \"r\": severity: \"urgnet\" is not one of 'urgent', 'high', "
        "'normal', 'low' or 'ignore' (did you mean \"urgent\"?)"
    ]


def test_numbers_in_quotes_or_with_suffixes_say_how_to_write_them(tmp_path: Path) -> None:
    write(tmp_path, "r.toml", RULE + 'sentiment_below = "-0.05"\nmin_followers = "10k"\n')

    assert problems(tmp_path) == [
        'rules/r.toml:4:1: rule "r": sentiment_below must be a number without quotes, like '
        "sentiment_below = -0.05",
        'rules/r.toml:5:1: rule "r": min_followers must be a plain number: write '
        "min_followers = 10000 (no k/m suffixes)",
    ]


def test_an_old_source_type_name_suggests_the_current_one(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    harness = Harness(tmp_path)
    harness.write_config({}, smtp_server.port, extra='[sources.tw]\ntype = "twitter"\n')

    try:
        load_config(harness.config)
    except ConfigError as error:
        messages = [problem.message for problem in error.problems]
    else:
        raise AssertionError("an unknown source type was accepted")

    assert len(messages) == 1
    assert messages[0].startswith('sources.tw: unknown type "twitter" (did you mean "x"?)')
