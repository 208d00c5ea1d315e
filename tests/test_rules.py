"""Rule files as comms staff write them: loaded, checked with file:line errors, and explained."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.errors import RulesError
from monitor.mention import Mention, Sentiment, Severity
from monitor.triage.rules.files import load_rules
from monitor.triage.rules.model import Rule, RuleSet

SHIPPED = Path(__file__).resolve().parent.parent / "rules"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / "rules" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(directory: Path, **known: list[str]) -> RuleSet:
    """Load ``directory``/rules as the daemon would, with paths shown relative to ``directory``."""
    return load_rules(
        directory / "rules",
        brands=known.get("brands"),
        sources=known.get("sources"),
        recipient_groups=known.get("recipient_groups"),
        display_root=directory,
    )


def problems(directory: Path, **known: list[str]) -> list[str]:
    """The messages a person sees when the rules under ``directory`` fail to load."""
    with pytest.raises(RulesError) as caught:
        load(directory, **known)
    return [str(problem) for problem in caught.value.problems]


def mention(text: str, *, title: str = "", followers: float | None = None) -> Mention:
    metrics = {} if followers is None else {"followers": followers}
    return Mention(source="hn_acme", id="1", text=text, title=title, lang="en", metrics=metrics)


def tone(compound: float) -> Sentiment:
    label = "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"
    return Sentiment(compound, label)


def fired(rules: RuleSet, item: Mention, sentiment: Sentiment) -> dict[str, Severity | None]:
    return {
        rule.name: rule.severity for rule in rules.rules if rule.explain(item, ["Acme"], sentiment)
    }


def test_shipped_rules_load_cleanly_with_the_shipped_config() -> None:
    rules = load_rules(SHIPPED, brands=["Acme"], sources=[], recipient_groups=[])

    assert [Path(file).name for file in rules.files] == sorted(
        path.name for path in SHIPPED.glob("*.toml")
    )
    assert {"complaint", "outage", "legal-threat", "safety", "security", "praise"} <= {
        rule.name for rule in rules.rules
    }
    assert all(rule.description for rule in rules.rules)


def test_shipped_rules_document_every_key() -> None:
    text = "\n".join(path.read_text(encoding="utf-8") for path in SHIPPED.glob("*.toml"))
    keys = ["name", "description", "brands", "any_words", "all_words", "none_words"]
    keys += ["sentiment_below", "sentiment_above", "sources", "langs", "min_followers"]
    for key in [*keys, "severity", "tags", "notify"]:
        assert f"#   {key} " in text or f"# {key} " in text, key


def test_shipped_rules_make_an_angry_outage_urgent_and_ignore_downloads() -> None:
    rules = load_rules(SHIPPED)

    outage = fired(rules, mention("Acme is down again, I can't log in. Useless."), tone(-0.6))
    download = fired(rules, mention("Where do I download the Acme app?"), tone(-0.1))

    assert outage["outage"] is Severity.URGENT
    assert not {"outage", "outage-report"} & download.keys()


def test_shipped_rules_treat_legal_safety_and_praise() -> None:
    rules = load_rules(SHIPPED)

    assert "legal-threat" in fired(rules, mention("My lawyer will hear about Acme"), tone(0.0))
    assert "safety" in fired(rules, mention("My Acme heater caught fire"), tone(-0.3))
    assert "security" in fired(rules, mention("Acme got hacked, passwords leaked"), tone(-0.4))
    assert fired(rules, mention("I love Acme, brilliant"), tone(0.9)) == {"praise": Severity.NORMAL}
    assert fired(rules, mention("Best launch ever, yeah right"), tone(0.8)) == {}


def test_a_typo_in_a_key_names_file_line_column_and_the_likely_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "outage.toml",
        """
        # outages
        [[rule]]
          name = "outage"
          description = "Site is down"
          sentimnet_below = -0.5
        """,
    )

    assert problems(tmp_path) == [
        'rules/outage.toml:5:3: rule "outage": unknown key "sentimnet_below" '
        '(did you mean "sentiment_below"?)'
    ]


def test_three_mistakes_in_one_file_are_all_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mixed.toml",
        """
        [[rule]]
        name = "first"
        description = "Negative"
        sentiment_below = 1.5

        [[rule]]
        name = "second"
        any_words = ["refund", ""]

        [[rule]]
        name = "third"
        description = "Tags must be a list"
        tags = "complaint"
        """,
    )

    assert problems(tmp_path) == [
        'rules/mixed.toml:4:1: rule "first": sentiment_below: must be between -1 and 1 '
        "(the sentiment scale), not 1.5",
        'rules/mixed.toml:6:1: rule "second": missing required key "description"',
        'rules/mixed.toml:8:1: rule "second": any_words: has an empty entry ""; remove it',
        'rules/mixed.toml:13:1: rule "third": tags: write a list in square brackets, '
        'e.g. ["complaint"]',
    ]


def test_problems_in_every_file_are_reported_together(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", '[[rule]]\nname = "a"\n')
    write(tmp_path, "b.toml", '[[rule]]\nname = "b"\nseverity = "hgih"\ndescription = "B"\n')

    found = problems(tmp_path)

    assert [line.split(":")[0] for line in found] == ["rules/a.toml", "rules/b.toml"]


def test_a_toml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "broken.toml",
        """
        [[rule]]
        name = "broken"
        description = "Forgot the closing quote
        """,
    )
    write(tmp_path, "unclosed.toml", '[[rule]]\nname = "x"\nany_words = ["a",\n')

    found = problems(tmp_path)

    assert found[0].startswith("rules/broken.toml:3:")
    assert "TOML syntax" in found[0]
    assert found[1].startswith("rules/unclosed.toml:3:")


def test_a_bad_severity_lists_the_allowed_values(tmp_path: Path) -> None:
    write(tmp_path, "r.toml", '[[rule]]\nname = "r"\ndescription = "R"\nseverity = "critical"\n')

    (message,) = problems(tmp_path)

    assert message.startswith('rules/r.toml:4:1: rule "r": severity:')
    for allowed in Severity:
        assert f"'{allowed.value}'" in message


def test_severity_ignores_capitals(tmp_path: Path) -> None:
    write(tmp_path, "r.toml", '[[rule]]\nname = "r"\ndescription = "R"\nseverity = "Urgent"\n')

    assert load(tmp_path).rules[0].severity is Severity.URGENT


def test_duplicate_names_across_files_name_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", '# first\n[[rule]]\nname = "complaint"\ndescription = "A"\n')
    write(tmp_path, "b.toml", '[[rule]]\nname = "complaint"\ndescription = "B"\n')

    assert problems(tmp_path) == [
        'rules/b.toml:2:1: rule "complaint": the rule at rules/a.toml:2 already has this name; '
        "names must be unique"
    ]


def test_unknown_names_from_config_get_a_suggestion(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.toml",
        """
        [[rule]]
        name = "r"
        description = "R"
        brands = ["acme"]
        sources = ["hn_acme", "reddit"]
        notify = ["oncal"]
        colour = "red"
        """,
    )

    found = problems(tmp_path, brands=["Acme"], sources=["hn_acme"], recipient_groups=["oncall"])

    assert found == [
        'rules/r.toml:5:1: rule "r": unknown source "reddit"; known sources: hn_acme',
        'rules/r.toml:6:1: rule "r": unknown recipient group "oncal" (did you mean "oncall"?)',
        'rules/r.toml:7:1: rule "r": unknown key "colour"; known keys: all_words, any_words, '
        "brands, days, description, has_tags, hours, langs, min_engagement, min_followers, name, "
        "none_words, notify, overrides, reply, sentiment_above, sentiment_below, severity, "
        "sources, spike, suppress, tags",
    ]


def test_contradicting_sentiment_thresholds(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.toml",
        '[[rule]]\nname = "r"\ndescription = "R"\nsentiment_above = 0.5\nsentiment_below = -0.5\n',
    )

    (message,) = problems(tmp_path)

    assert message.startswith('rules/r.toml:5:1: rule "r": sentiment_below -0.5 is not above')


def test_a_misnamed_table_or_a_file_without_rules(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", '[[rules]]\nname = "a"\ndescription = "A"\n')
    write(tmp_path, "b.toml", "# nothing here yet\n")
    write(tmp_path, "c.toml", 'name = "c"\n[rule]\ndescription = "C"\n')

    assert problems(tmp_path) == [
        'rules/a.toml:1:1: unknown table "rules"; rules go under [[rule]] lines '
        '(did you mean "rule"?)',
        "rules/b.toml:1: has no rules; add a [[rule]] or delete the file",
        'rules/c.toml:1:1: key "name" is outside any rule; move it under a [[rule]] line',
        "rules/c.toml:2:1: each rule starts with a [[rule]] line (two pairs of square brackets)",
    ]


def test_line_numbers_survive_brackets_inside_multiline_lists(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.toml",
        """
        [[rule]]
        name = "r"
        description = "R"
        none_words = [
          ":-[",   # a sad face
        ]
        severty = "high"
        """,
    )

    assert problems(tmp_path)[0].startswith("rules/r.toml:7:1:")


def test_a_missing_or_empty_rules_directory_refuses_to_run(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a rule file", encoding="utf-8")

    with pytest.raises(RulesError, match="does not exist"):
        load_rules(tmp_path / "missing")
    with pytest.raises(RulesError, match=r"holds no \.toml rule files"):
        load_rules(tmp_path / "empty")


def test_files_load_in_name_order_and_a_single_file_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "b.toml", '[[rule]]\nname = "b"\ndescription = "B"\n')
    single = write(tmp_path, "a.toml", '[[rule]]\nname = "a"\ndescription = "A"\n')

    assert load(tmp_path).files == ("rules/a.toml", "rules/b.toml")
    assert [rule.name for rule in load(tmp_path).rules] == ["a", "b"]
    only = load_rules(single)
    assert only.files == (str(single),)
    assert (only.rules[0].path, only.rules[0].line) == (str(single), 1)


def test_explain_gives_reasons_when_every_condition_holds(tmp_path: Path) -> None:
    write(
        tmp_path,
        "r.toml",
        """
        [[rule]]
        name = "angry-complaint"
        description = "Angry and about money"
        any_words = ["refund", "scam"]
        none_words = ["giveaway"]
        sentiment_below = -0.5
        brands = ["Acme"]
        min_followers = 1000
        severity = "urgent"
        """,
    )
    (rule,) = load(tmp_path, brands=["Acme"]).rules
    angry = mention("I want a REFUND now", followers=1200)

    assert rule.explain(angry, ["Acme"], tone(-0.72)) == (
        'angry-complaint: sentiment -0.72 is below -0.5; mentions "refund"; about Acme; '
        "author has 1,200 followers (at least 1,000)"
    )
    assert rule.explain(angry, ["Acme"], tone(-0.3)) is None
    assert rule.explain(angry, ["Other"], tone(-0.72)) is None
    assert rule.explain(mention("refund please", followers=10), ["Acme"], tone(-0.9)) is None
    assert rule.explain(mention("refunds", followers=5000), ["Acme"], tone(-0.9)) is None
    giveaway = mention("Refund scam giveaway", followers=5000)
    assert rule.explain(giveaway, ["Acme"], tone(-0.9)) is None


def test_words_match_whole_words_and_phrases_in_text_and_title() -> None:
    rule = Rule(
        name="outage",
        description="Down",
        path="rules/outage.toml",
        line=1,
        any_words=("down", "can't log in"),
        all_words=("acme", "today"),
    )
    calm = tone(0.0)

    assert rule.explain(mention("Can\u2019t  log in to Acme today"), [], calm) == (
        'outage: mentions "can\'t log in"; mentions all of "acme", "today"'
    )
    assert rule.explain(mention("Acme today", title="Site DOWN"), [], calm) is not None
    assert rule.explain(mention("Acme download today, countdown"), [], calm) is None
    assert rule.explain(mention("Acme is down"), [], calm) is None  # "today" is missing


def test_a_rule_without_conditions_fires_on_every_mention() -> None:
    rule = Rule(name="all", description="Everything", path="r.toml", line=1, langs=("en",))

    assert rule.explain(mention("anything"), [], tone(0.0)) == "all: in language en"
    bare = Rule(name="all", description="Everything", path="r.toml", line=1)
    assert bare.explain(mention("anything"), [], tone(0.0)) == "all: applies to every mention"


def test_shipped_rules_suggest_a_reply_where_a_template_fits() -> None:
    rules = load_rules(SHIPPED)
    templates = SHIPPED.parent / "templates" / "replies"

    replies = {rule.name: rule.reply for rule in rules.rules}

    assert replies["outage"] == replies["outage-report"] == "outage"
    assert replies["refund-request"] == "billing"
    assert replies["complaint"] == replies["angry-complaint"] == "complaint"
    assert replies["legal-threat"] is None  # lawyers answer these, not a template
    for reply in set(replies.values()) - {None}:
        assert (templates / f"{reply}.txt.j2").is_file(), reply
