"""Brand queries as comms write them: what they mean, how mistakes are shown, what they match."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.config.query import (
    And,
    Filter,
    Near,
    Node,
    Not,
    Or,
    Term,
    parse_query,
)
from monitor.config.settings import Brand
from monitor.errors import ConfigError, QueryError
from monitor.mention import Mention
from monitor.triage.matcher import BrandHit, BrandMatcher, brands_named
from monitor.triage.rules.model import RuleSet
from monitor.triage.sentiment.scorer import SentimentScorer, aimed_text
from monitor.triage.verdict import Triage


def word(*words: str, wildcard: bool = False, case: bool = False) -> Term:
    return Term(tuple(words), wildcard=wildcard, case_sensitive=case)


A, B, C, D = word("a"), word("b"), word("c"), word("d")


def post(text: str, source: str = "hn_acme", url: str = "", lang: str = "") -> Mention:
    return Mention(source=source, id="1", text=text, url=url, lang=lang)


def brands(text: str, *matchers: tuple[str, str], **facts: str) -> tuple[str, ...]:
    """The brands that ``(name, query)`` pairs find in a post with ``facts``."""
    matcher = BrandMatcher([Brand(name=n, terms=[n], query=q) for n, q in matchers])
    return brands_named(matcher.match(post(text, **facts), text))


# ---- what a query means --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("a", A),
        ("a OR b", Or((A, B))),
        ("a AND b", And((A, B))),
        ("a b", And((A, B))),  # side by side is AND
        ("NOT a b", And((Not(A), B))),
        ("a NOT b", And((A, Not(B)))),
        ("a OR b c", Or((A, And((B, C))))),  # AND before OR
        ("a OR b AND NOT c", Or((A, And((B, Not(C)))))),  # NOT before AND
        ("a NOT NOT b", And((A, Not(Not(B))))),
        ("(a OR b) c", And((Or((A, B)), C))),
        ("a (b OR (c d))", And((A, Or((B, And((C, D))))))),
        ("a OR b OR c", Or((A, B, C))),
        ("a NEAR/3 b", Near(A, B, 3)),
        ("a NEAR/0 (b OR c) d", And((Near(A, Or((B, C)), 0), D))),
        ("NOT a NEAR/2 b c", And((Not(Near(A, B, 2)), C))),  # NEAR before NOT
        ('"Acme  Cloud"', word("acme", "cloud")),
        ("refund*", word("refund", wildcard=True)),
        ("@Acme #ACME", And((word("@acme"), word("#acme")))),
        ("case:Apple", word("Apple", case=True)),
        ('case:"Apple Music"', word("Apple", "Music", case=True)),
        ("or and not near", And((word("or"), word("and"), word("not"), word("near")))),
        ("ORACLE NOTES", And((word("oracle"), word("notes")))),
        (
            "a source:HN_Acme lang:en_GB site:Example.com",
            And(
                (
                    A,
                    Filter("source", "hn_acme"),
                    Filter("lang", "en-gb"),
                    Filter("site", "example.com"),
                )
            ),
        ),
    ],
)
def test_operators_and_their_precedence(query: str, tree: Node) -> None:
    assert parse_query(query) == tree


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("Acme OR", "column 6: OR needs a term after it\n    Acme OR\n         ^"),
        ("OR Acme", "column 1: OR needs a term before it\n    OR Acme\n    ^"),
        ("Acme AND AND x", "column 6: AND needs a term after it\n    Acme AND AND x\n         ^"),
        ("Acme NOT", "column 6: NOT needs a term after it\n    Acme NOT\n         ^"),
        (
            "(Acme OR refund",
            "column 1: this ( is not closed\n    (Acme OR refund\n    ^",
        ),
        (
            "Acme (refund OR (late)",
            "column 6: this ( is not closed\n    Acme (refund OR (late)\n         ^",
        ),
        ("Acme) refund", "column 5: this ) closes no (\n    Acme) refund\n        ^"),
        ("Acme ()", "column 6: these parentheses are empty\n    Acme ()\n         ^"),
        ('"Acme Cloud', 'column 1: this quote is not closed\n    "Acme Cloud\n    ^'),
        ("", "column 1: the query is empty; write at least the brand's name\n    \n    ^"),
    ],
)
def test_syntax_errors_show_the_column_with_a_caret(query: str, shown: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert str(caught.value) == shown


@pytest.mark.parametrize(
    ("query", "column", "reason"),
    [
        ("Acme NEAR refund", 6, "NEAR needs a distance in words, e.g. Acme NEAR/3 refund"),
        ("Acme NEAR/ refund", 6, "NEAR needs a distance in words"),
        ("Acme NEAR/three refund", 6, "NEAR needs a distance in words"),
        ("Acme NEAR/3", 6, "NEAR/3 needs a term, a phrase or an (… OR …) group after it"),
        ("NEAR/3 Acme", 1, "NEAR/3 needs a term before it"),
        ("Acme NEAR/3 NOT late", 6, "NEAR/3 needs a term, a phrase or an (… OR …) group"),
        ("Acme NEAR/3 (refund AND late)", 14, "NEAR/3 works on terms, phrases and (… OR …)"),
        ("Acme NEAR/3 source:x", 13, "NEAR/3 works on terms, phrases and (… OR …)"),
        ("Acme NEAR/2 refund NEAR/3 late", 20, "join two NEARs with AND"),
        ("Acme sorce:hn_acme", 6, 'unknown field "sorce:" (did you mean "source:"?)'),
        ("Acme source: hn_acme", 6, "source: needs a value right after it, e.g. source:hn_acme"),
        ("Acme lang:english", 6, "lang: takes a language code such as en or en-GB"),
        ("Acme site:https://example.com/", 6, "site: takes a host name such as example.com"),
        ("re*und", 1, "a wildcard * goes at the end of a word"),
        ("ac*", 1, "after at least three letters"),
        ('Acme ""', 6, "these quotes are empty"),
        ("NOT Acme", 1, "the query needs a term to look for, not only NOT or filters"),
        ("lang:en", 1, "the query needs a term to look for"),
        ("Acme OR NOT pie", 9, "each OR choice needs a term of its own"),
        ("(Acme OR source:x) lang:en", 10, "each OR choice needs a term of its own"),
    ],
)
def test_mistakes_are_explained_where_they_are(query: str, column: int, reason: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert caught.value.column == column
    assert reason in caught.value.reason
    assert str(caught.value).splitlines()[-1] == "    " + " " * (column - 1) + "^"


def test_a_mistake_in_a_long_query_points_into_its_line() -> None:
    query = '(Acme OR "Acme Cloud")\nAND (refund* OR\n  late) OR'
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    assert (
        str(caught.value)
        == "line 3, column 9: OR needs a term after it\n      late) OR\n            ^"
    )


# ---- what it matches -----------------------------------------------------------------------


APPLE = ("Apple", '(case:Apple OR iPhone OR @apple) NOT ("apple pie" OR "apple juice")')


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("My new Apple Watch died after two days", True),
        ("The iPhone camera is great", True),
        ("@apple my phone will not charge", True),
        ("I bought an apple at the market", False),  # not the capital-A brand
        ("APPLE IS DOWN", False),
        ("Grandma's Apple pie recipe, Apple fans!", False),  # the excluded context
        ("Apple juice is overrated", False),
        ("Pineapple and Applesauce", False),
    ],
)
def test_a_common_word_brand_is_told_apart_by_case_and_context(text: str, named: bool) -> None:
    assert brands(text, APPLE) == (("Apple",) if named else ())


@pytest.mark.parametrize(
    ("query", "text", "named"),
    [
        ('"Acme Cloud"', "acme   cloud\nis down", True),
        ('"Acme Cloud"', "Acme's cloud is down", False),
        ("refund*", "Acme REFUNDED me at last", True),
        ("refund*", "Still waiting for my refunds", True),
        ("refund*", "they will not re-fund", False),
        ("@acme*", "thanks @AcmeSupport", True),
        ("@acme*", "mail acme support", False),
        ("#acme", "Loving it #ACME #tech", True),
        ("#acme", "Loving Acme", False),
        ("@acme", "ping @acme_help please", False),
        ("acme", "ping @acme and #acme", True),  # a plain word is found in handles and tags too
        ("acme AND refund*", "Acme, where is my refund?", True),
        ("acme AND refund*", "Acme, where is my parcel?", False),
        ("acme OR globex", "Globex is fine", True),
        ("acme NOT (hardware OR nails)", "Acme nails on sale", False),
        ("C++ OR AT&T", "switched to at&t", True),
        ("acme.com", "see acme.com/help", True),
    ],
)
def test_phrases_wildcards_handles_and_hashtags(query: str, text: str, named: bool) -> None:
    assert brands(text, ("Acme", query)) == (("Acme",) if named else ())


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Acme refund", True),
        ("Acme, where is my refund", True),  # three words between
        ("My refund from Acme never came", True),  # either order
        ("Acme still has not sent the refund", False),  # four words between
        ("Acme support was great. Unrelated, but I finally got a refund from my bank", False),
        ("The acme-refund form", True),
    ],
)
def test_near_counts_the_words_between(text: str, named: bool) -> None:
    assert brands(text, ("Acme", "Acme NEAR/3 refund*")) == (("Acme",) if named else ())


def test_near_takes_groups_of_terms() -> None:
    query = '("Acme Cloud" OR @acme) NEAR/2 (down OR outage)'
    assert brands("is @acme down again?", ("Acme", query)) == ("Acme",)
    assert brands("Acme Cloud outage", ("Acme", query)) == ("Acme",)
    assert brands("Acme Cloud: everything fine, nothing down", ("Acme", query)) == ()


@pytest.mark.parametrize(
    ("query", "facts", "named"),
    [
        ("Acme source:hn_acme", {"source": "hn_acme"}, True),
        ("Acme source:HN_ACME", {"source": "hn_acme"}, True),
        ("Acme source:rss", {"source": "hn_acme"}, True),  # the kind of the source
        ("Acme source:reddit", {"source": "hn_acme"}, False),
        ("Acme NOT source:reddit", {"source": "reddit_all"}, True),
        ("Acme NOT source:reddit", {"source": "r"}, False),
        ("Acme lang:en", {"lang": "en-GB"}, True),
        ("Acme lang:en", {"lang": "EN"}, True),
        ("Acme lang:en-gb", {"lang": "en_GB"}, True),
        ("Acme lang:en-gb", {"lang": "en-US"}, False),
        ("Acme lang:en", {"lang": ""}, False),
        ("Acme site:example.com", {"url": "https://example.com/a"}, True),
        ("Acme site:example.com", {"url": "https://news.EXAMPLE.com:8443/a"}, True),
        ("Acme site:example.com", {"url": "https://badexample.com/a"}, False),
        ("Acme site:example.com", {"url": ""}, False),
        ("Acme NOT site:reddit.com", {"url": "https://old.reddit.com/r/x"}, False),
    ],
)
def test_filters_look_at_the_mention(query: str, facts: dict[str, str], named: bool) -> None:
    matcher = BrandMatcher(
        [Brand(name="Acme", terms=["Acme"], query=query)],
        source_kinds={"hn_acme": "rss", "reddit_all": "hackernews", "r": "reddit"},
    )
    mention = Mention(
        source=facts.get("source", "s"),
        id="1",
        text="Acme is down",
        url=facts.get("url", ""),
        lang=facts.get("lang", ""),
    )
    assert bool(matcher.match(mention, mention.text)) is named


def test_without_a_mention_filters_are_ignored() -> None:
    matcher = BrandMatcher(
        [Brand(name="Acme", terms=["Acme"], query="Acme source:rss NOT lang:de NOT site:x.com")]
    )
    assert brands_named(matcher.find("Acme is down")) == ("Acme",)


def test_exclude_still_drops_a_term_written_inside_an_excluded_phrase() -> None:
    matcher = BrandMatcher(
        [Brand(name="Apple", terms=["Apple"], query="Apple OR iPhone", exclude=["apple pie"])]
    )
    assert matcher.find("Nothing beats apple pie") == []
    text = "Apple pie first, then I dropped my Apple Watch"
    assert matcher.find(text) == [BrandHit("Apple", "Apple", 35, 40)]


def test_terms_brands_work_as_before_beside_query_brands() -> None:
    matcher = BrandMatcher(
        [
            Brand(name="Acme", terms=["Acme", "@acme", "Acme Cloud"], exclude=["Acme Hardware"]),
            Brand(name="Hardware Co", terms=["Hardware Co"], query='"Acme Hardware"'),
        ]
    )
    text = "Acme Hardware sells Acme Cloud, ask @acme"
    assert matcher.find(text) == [
        BrandHit("Hardware Co", "Acme Hardware", 0, 13, names=False),  # not among its terms
        BrandHit("Acme", "Acme Cloud", 20, 30),
        BrandHit("Acme", "@acme", 36, 41),
    ]
    assert brands_named(matcher.find("Acme Hardware has nails on sale")) == ("Hardware Co",)


def test_triage_hands_the_mention_to_the_query() -> None:
    triage = Triage(
        [Brand(name="Acme", terms=["Acme"], query="Acme NOT source:reddit")],
        RuleSet(rules=(), files=()),
        source_kinds={"r_acme": "reddit", "hn_acme": "rss"},
    )
    assert triage(post("Acme is down again", source="hn_acme")).brands == ("Acme",)
    assert not triage(post("Acme is down again", source="r_acme")).matched


# ---- what sentiment is aimed at ------------------------------------------------------------


def test_hits_are_the_positive_terms_that_occur_without_overlaps() -> None:
    matcher = BrandMatcher(
        [
            Brand(
                name="Acme",
                terms=["Acme"],
                query='("Acme Cloud" OR acme OR #acme) NOT "Acme Hardware" NOT spam',
            )
        ]
    )
    text = "Acme Cloud lost my files. #acme"
    assert matcher.find(text) == [
        BrandHit("Acme", "Acme Cloud", 0, 10),
        BrandHit("Acme", "#acme", 26, 31),
    ]


def test_sentiment_reads_the_sentences_naming_the_query_brand() -> None:
    matcher = BrandMatcher([Brand(name="Apple", terms=["Apple"], query=APPLE[1])])
    text = "The apple crumble was wonderful and I love it! My Apple Watch died again. Useless."
    hits = matcher.find(text)
    assert [hit.text for hit in hits] == ["Apple"]
    assert aimed_text(text, hits) == "My brandname Watch died again. Useless."
    assert SentimentScorer().score(text, hits).label == "negative"


# ---- as written in config.toml -------------------------------------------------------------


def test_a_bad_query_is_a_config_problem_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config = """
        [[brands]]
        name = "Acme"
        terms = ["Acme"]
        query = 'Acme NEAR/x refund'

        [[brands]]
        name = "Apple"
        terms = ["Apple"]
        query = '(case:Apple OR iPhone'

        [recipients]
        oncall = ["oncall@example.com"]
        marketing = ["marketing@example.com"]
        """
    path.write_text(textwrap.dedent(config).lstrip("\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:4:1: brands.0.query: column 6: NEAR needs a distance in words, e.g. Acme NEAR/3 refund\n"
        "    Acme NEAR/x refund\n"
        "         ^",
        f"{path}:9:1: brands.1.query: column 1: this ( is not closed\n"
        "    (case:Apple OR iPhone\n"
        "    ^",
    ]


def test_a_good_query_loads(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[brands]]\nname = "Apple"\nterms = ["Apple"]\n'
        "query = '''\n(case:Apple OR iPhone)\n  NOT \"apple pie\"\n'''\n"
        '[recipients]\noncall = ["o@example.com"]\nmarketing = ["m@example.com"]\n',
        encoding="utf-8",
    )
    brand = load_config(path).settings.brands[0]
    assert brands_named(BrandMatcher([brand]).find("Apple is down")) == ("Apple",)
