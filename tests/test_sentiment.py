"""Sentiment as Harken reads it: VADER aimed at the brand, taught how unhappy customers talk."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.config.settings import Brand
from monitor.errors import RulesError
from monitor.mention import Mention
from monitor.triage.jsonl import verdict_line
from monitor.triage.matcher import BrandHit
from monitor.triage.rules.files import load_rules
from monitor.triage.sentiment.lexicon import DEFAULT_LEXICON, load_lexicon, token_keys
from monitor.triage.sentiment.scorer import SentimentScorer, aimed_text
from monitor.triage.verdict import Triage

SCORER = SentimentScorer()
VADER = SentimentIntensityAnalyzer()  # plain VADER, as the package ships it


def named(text: str, *names: str) -> list[BrandHit]:
    """Where ``text`` names the brand, as the brand matcher reports it."""
    pattern = "|".join(re.escape(name) for name in names)
    return [
        BrandHit(names[0], match.group(0), match.start(), match.end())
        for match in re.finditer(rf"(?<!\w)(?:{pattern})(?!\w)", text, re.IGNORECASE)
    ]


# ---- VADER's own reading is kept where the lexicon has nothing to add ------------------------

# Texts where a shortcut could go wrong: emoji, emoticons, slang, negation, boosters alone,
# punctuation glued to words, capitals, and plain statements with no feeling at all.
TRICKY = [
    "The store opens at nine.",
    "Order 5521 shipped on Tuesday",
    "not bad at all",
    "very very",
    "kind of",
    "😡",
    "love it ❤️",
    ":) see you there",
    "meh :(",
    "LOL",
    "GREAT!!!",
    "(terrible)",
    "no.",
    "the bomb",
    "kiss of death",
    "yeah right",
    "ok",
    "wtf",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_one_sentence_without_the_lexicons_words_reads_exactly_as_vader_reads_it(
    text: str,
) -> None:
    expected = round(VADER.polarity_scores(text)["compound"], 4)
    assert SCORER.score(text).compound == expected


def test_the_shortcut_never_skips_a_sentence_vader_would_score() -> None:
    # Harken skips VADER for a sentence holding no emoji, no word of VADER's lexicon (with the
    # lexicon file's words added) and none of the file's phrases: VADER would score it 0. Every
    # lexicon word in several spellings, and tokens that trip naive tokenisers, must agree with
    # the extended VADER run in full.
    words = sorted(SCORER.analyzer.lexicon)
    wrappings = ["{}", "({})", "{}!", "“{}”", "x/{}", "{}...", "#{}", "{}?!", "'{}'"]
    texts = [wrappings[n % len(wrappings)].format(word) for n, word in enumerate(words)]
    texts += [*TRICKY, "tf?", "don\u2019t", "no…", "ok!", ":-)", "I <3 it", "x:)", "🙂🙂"]
    matcher = SCORER.lexicon.matcher
    for text in texts:
        if matcher.find(token_keys(text, text.lower().split()), text.split()):
            continue  # a phrase of the lexicon file: scored through its marker, not as written
        assert SCORER.sentence_compound(text) == SCORER.analyzer.polarity_scores(text)["compound"]


# ---- The vocabulary of complaints -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "still waiting for my refund",
        "on hold for an hour",
        "my phone won't charge",
        "can't log in again",
        "never again",
        "I haven't had my refund",
        "still no answer from support",
        "why won't the app open?",
        "I cannot see my photos since the update",
        "this update is sooo baaad",
    ],
)
def test_complaints_that_vader_reads_as_neutral_read_negative(text: str) -> None:
    assert VADER.polarity_scores(text)["compound"] > -0.05  # plain VADER sees nothing wrong
    sentiment = SCORER.score(text)
    assert sentiment.label == "negative"
    assert sentiment.sentence == text


def test_being_charged_twice_is_a_clear_complaint_not_a_faint_one() -> None:
    assert VADER.polarity_scores("charged twice")["compound"] > -0.25
    assert SCORER.score("charged twice").compound < -0.5


@pytest.mark.parametrize(
    "text",
    [
        "I love my new Acme phone, the battery is great",
        "Thanks @acme, support sorted it out in minutes!",
        "No problems at all with Acme since I switched",
    ],
)
def test_praise_stays_positive(text: str) -> None:
    assert SCORER.score(text, named(text, "Acme")).label == "positive"


def test_drawn_out_words_keep_their_feeling_and_their_capitals() -> None:
    assert VADER.polarity_scores("Acme is goooood")["compound"] == 0  # VADER knows only "good"
    assert SCORER.score("Acme is goooood").label == "positive"
    assert (
        SCORER.score("Acme is BAAAD, so bad").compound
        < SCORER.score("Acme is bad, so bad").compound
    )
    assert SCORER.score("Acme shipped it, zzzz").label == "neutral"  # nothing to shorten to


def test_eagerness_and_relief_are_not_complaints() -> None:
    assert SCORER.score("I can't wait for the new Acme phone!").label != "negative"
    assert SCORER.score("I'm not on hold any more").label != "negative"  # "not" turns it around


def test_a_complaint_about_us_beside_praise_for_a_rival_reads_negative_and_says_where() -> None:
    text = "Globex is wonderful and their staff are lovely. Acme charged me twice and nobody answers. Globex rocks!"
    assert VADER.polarity_scores(text)["compound"] > 0.5  # the whole text reads as praise
    sentiment = SCORER.score(text, named(text, "Acme"))
    assert sentiment.label == "negative"
    assert sentiment.sentence == "Acme charged me twice and nobody answers."


def test_one_complaint_decides_even_in_a_post_that_also_praises_us() -> None:
    text = "@acme Love the new app. But it keeps crashing when I pay."
    sentiment = SCORER.score(text, named(text, "@acme"))
    assert sentiment.label == "negative"
    assert sentiment.sentence == "But it keeps crashing when I pay."


# ---- Aiming at the brand --------------------------------------------------------------------


def test_only_the_sentences_about_the_brand_and_the_one_after_are_read() -> None:
    text = (
        "Globex is brilliant. I adore Globex. Acme lost my parcel. Still no answer! Globex rocks."
    )
    assert aimed_text(text, named(text, "Acme")) == "brandname lost my parcel. Still no answer!"


def test_a_post_signed_off_to_the_brands_handle_is_read_whole() -> None:
    text = "My order never came and nobody answers. Two weeks now. @acme"
    sentiment = SCORER.score(text, named(text, "@acme"))
    assert sentiment.label == "negative"
    assert sentiment.sentence == "My order never came and nobody answers."


def test_the_brand_word_is_masked_and_other_handles_and_links_are_dropped() -> None:
    text = "Best Buy opens at nine"
    assert VADER.polarity_scores(text)["compound"] > 0.5  # plain VADER calls it praise
    assert SCORER.score(text, named(text, "Best Buy")).label == "neutral"
    text = "RT @happy_dave: Acme opens at nine https://example.com/great"
    assert aimed_text(text, named(text, "Acme")) == "RT : brandname opens at nine"


# ---- The lexicon file -----------------------------------------------------------------------


def test_the_shipped_lexicon_extends_a_copy_of_vaders_lexicon_not_the_package() -> None:
    lexicon = load_lexicon()
    assert lexicon.words["outage"] < 0
    assert "outage" in SCORER.analyzer.lexicon
    assert "outage" not in SentimentIntensityAnalyzer().lexicon
    assert "support" not in SCORER.analyzer.lexicon  # the support desk is not praise
    assert VADER.lexicon["support"] > 0


def write_lexicon(folder: Path, text: str) -> Path:
    path = folder / "lexicon.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_comms_can_add_a_phrase_and_it_counts(tmp_path: Path) -> None:
    text = "the acme shop is out of stock again"
    assert SCORER.score(text).label == "neutral"
    path = write_lexicon(
        tmp_path,
        '[[term]]\ntext = "out of stock"\nvalence = -1.5\nwhy = "Customers who could not buy"\n',
    )
    assert SentimentScorer(load_lexicon(path)).score(text).label == "negative"


def test_a_broken_lexicon_names_every_problem_with_its_line(tmp_path: Path) -> None:
    path = write_lexicon(
        tmp_path,
        """[groups]
work = ["work", "load"]

[[term]]
text = "outage"
valence = -2
why = "The service is down"

[[term]]
text = "refund"
valance = -1
why = "Money back"

[[term]]
text = "{wrk} again"
valence = -1
why = "Repeats"

[[term]]
text = "glitch"
valence = -9
why = ""

[[term]]
text = "Outage"
valence = -1
why = "Twice"
""",
    )
    with pytest.raises(RulesError) as raised:
        load_lexicon(path)
    shown = str(path)
    assert [str(problem) for problem in raised.value.problems] == [
        f'{shown}:9:1: term "refund": missing required key "valence"',
        f'{shown}:11:1: term "refund": unknown key "valance" (did you mean "valence"?)',
        f'{shown}:15:1: term "{{wrk}} again": unknown group "{{wrk}}" (did you mean "{{work}}"?)',
        f'{shown}:21:1: term "glitch": valence: Input should be greater than or equal to -4',
        f'{shown}:22:1: term "glitch": why: must not be empty',
        f'{shown}:25:1: term "Outage": already listed at {shown}:4; keep one',
    ]


def test_a_lexicon_with_a_toml_mistake_names_its_line_and_column(tmp_path: Path) -> None:
    path = write_lexicon(tmp_path, '[[term]]\ntext = "outage\nvalence = -2\n')
    with pytest.raises(RulesError) as raised:
        load_lexicon(path)
    assert str(raised.value).startswith(f"{path}:2:")
    assert DEFAULT_LEXICON.is_file()


# ---- What `harken triage` shows -------------------------------------------------------------


def test_triage_output_names_the_deciding_sentence(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "all.toml").write_text('[[rule]]\nname = "all"\ndescription = "everything"\n')
    triage = Triage([Brand(name="Acme", terms=["Acme", "@acme"])], load_rules(rules))
    text = "Globex shipped in a day, great service. Acme billed me twice. Still no refund!"
    line = json.loads(verdict_line(triage(Mention(source="test", id="1", text=text))))
    assert line["sentiment"]["label"] == "negative"
    assert line["sentiment"]["sentence"] in {"Acme billed me twice.", "Still no refund!"}
    assert set(line["sentiment"]) == {"compound", "label", "sentence"}
