"""How well `harken triage` finds negative mentions, beside plain VADER on the same tweets.

Run from the repo root:

    .venv/bin/python bench/triage_quality.py [DATA_DIR] [--repeats N]

DATA_DIR holds the labelled sets its README describes [default: ../shared/data/labelled]:
  Apple-Twitter-Sentiment-DFE.csv  latin-1; `sentiment` 1 = negative, 3, 5; `not_relevant` dropped
  sanders-full-corpus.csv          `Sentiment` negative/neutral/positive; `irrelevant` dropped
Each tweet goes through Harken's triage in this process, by the code path of `harken triage`
(a JSON line in, `monitor.triage.jsonl.triage_lines`, a JSON verdict out), with the repo's rules/ and
one brand configured as comms would: the company's name (which also matches its @handle and
#tag) and its stock ticker. A tweet is read negative when its verdict says sentiment.label
"negative". Plain VADER reads the same tweet as negative when its compound is <= -0.05.

For the Apple set the figures are also given for the tweets whose labellers mostly agreed
(sentiment:confidence >= 0.8, about half): the rest no reader can score well.

The lexicon and the method were tuned on the Apple set only; Sanders (other brands, other
years) is held out, so its figures say how the method carries over to data it never saw.

Speed: VADER alone and triage run on the same tweets in alternating chunks, timed in CPU
seconds so other work on the machine counts less; the ratio is VADER's time over triage's
(1.0 = as fast as VADER alone), the median over --repeats. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.config.load import load_config
from monitor.daemon import wiring
from monitor.triage.jsonl import triage_lines
from monitor.triage.verdict import Triage

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "labelled"
TUNED_ON = "Apple"
VADER_NEGATIVE = -0.05  # VADER's own published cut-off
CHUNK = 200
AGREED = 0.8  # the Apple set's sentiment:confidence: about half its tweets reach it
# A company's name and its ticker, as comms would configure them.
BRAND_TERMS = {
    "apple": ("Apple", ("Apple", "AAPL")),
    "google": ("Google", ("Google", "GOOG")),
    "microsoft": ("Microsoft", ("Microsoft", "MSFT")),
    "twitter": ("Twitter", ("Twitter",)),
}


@dataclass(frozen=True)
class LabelledSet:
    """One labelled CSV: where its text, label and brand are, and which label is negative."""

    name: str
    file: str
    text: str
    label: str
    negative: str
    dropped: str  # rows labelled this say nothing about the brand's sentiment
    topic: str | None  # the column naming each row's brand; None: every row is about Apple
    agreement: str | None = None  # the column saying how far the people labelling agreed


SETS = (
    LabelledSet(
        "Apple",
        "Apple-Twitter-Sentiment-DFE.csv",
        "text",
        "sentiment",
        "1",
        "not_relevant",
        None,
        "sentiment:confidence",
    ),
    LabelledSet(
        "Sanders",
        "sanders-full-corpus.csv",
        "TweetText",
        "Sentiment",
        "negative",
        "irrelevant",
        "Topic",
    ),
)


@dataclass(frozen=True)
class Tweet:
    text: str
    negative: bool
    brand: str  # a key of BRAND_TERMS
    agreement: float = 1.0  # share of the labellers' judgement behind the label, where known


def read_set(folder: Path, labelled: LabelledSet) -> list[Tweet]:
    path = folder / labelled.file
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (give the folder of the labelled sets)")
    with path.open(encoding="latin-1", newline="") as file:
        return [
            Tweet(
                row[labelled.text],
                row[labelled.label] == labelled.negative,
                row[labelled.topic].lower() if labelled.topic else "apple",
                float(row[labelled.agreement]) if labelled.agreement else 1.0,
            )
            for row in csv.DictReader(file)
            if row[labelled.label] != labelled.dropped
        ]


def build_engine(directory: Path, brand: str) -> Triage:
    """Triage as `harken triage` builds it, from a config naming one brand and the repo's rules."""
    name, terms = BRAND_TERMS[brand]
    config = directory / f"{brand}.toml"
    config.write_text(
        "\n".join(
            [
                "[[brands]]",
                f"name = {json.dumps(name)}",
                f"terms = {json.dumps(list(terms))}",
                "[recipients]",
                'oncall = ["oncall@example.com"]',
                'marketing = ["marketing@example.com"]',
                "[storage]",
                'url = "sqlite:///:memory:"',
                "[rules]",
                f"path = {json.dumps(str(REPO / 'rules'))}",
                f"lexicon = {json.dumps(str(REPO / 'rules' / 'sentiment' / 'lexicon.toml'))}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    loaded = load_config(config)
    return wiring.build_triage(loaded, wiring.load_config_rules(loaded))


def json_lines(tweets: Sequence[Tweet]) -> list[str]:
    return [json.dumps({"id": number, "text": tweet.text}) for number, tweet in enumerate(tweets)]


def triage_verdicts(engine: Triage, lines: Sequence[str]) -> list[dict[str, object]]:
    verdicts = []
    for result in triage_lines(lines, engine, jobs=1):
        if result.verdict is None:
            raise SystemExit(f"line {result.number}: {result.problem}")
        verdicts.append(json.loads(result.verdict))
    return verdicts


def scores(gold: Sequence[bool], predicted: Sequence[bool]) -> tuple[float, float, float]:
    """Precision, recall and F1 of the negative class."""
    hits = sum(g and p for g, p in zip(gold, predicted, strict=True))
    precision = hits / sum(predicted) if any(predicted) else 0.0
    recall = hits / sum(gold) if any(gold) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def report_set(labelled: LabelledSet, tweets: Sequence[Tweet], engines: dict[str, Triage]) -> None:
    vader = SentimentIntensityAnalyzer()
    gold = [tweet.negative for tweet in tweets]
    harken: list[bool] = [False] * len(tweets)
    matched = 0
    for brand, engine in engines.items():
        chosen = [index for index, tweet in enumerate(tweets) if tweet.brand == brand]
        verdicts = triage_verdicts(engine, json_lines([tweets[index] for index in chosen]))
        for index, verdict in zip(chosen, verdicts, strict=True):
            sentiment = verdict["sentiment"]
            assert isinstance(sentiment, dict)
            harken[index] = sentiment["label"] == "negative"
            matched += bool(verdict["matched"])
    plain = [vader.polarity_scores(tweet.text)["compound"] <= VADER_NEGATIVE for tweet in tweets]
    role = "tuned on" if labelled.name == TUNED_ON else "held out"
    brands = ", ".join(f"{BRAND_TERMS[b][0]} {list(BRAND_TERMS[b][1])}" for b in engines)
    print(f"\n{labelled.name} ({role}): {len(tweets):,} tweets, {sum(gold):,} negative")
    print(f"  brands: {brands}; {matched:,} tweets name their brand")
    print(f"  {'negative class':18} precision  recall      F1")
    for label, predicted in (("harken triage", harken), ("plain VADER", plain)):
        precision, recall, f1 = scores(gold, predicted)
        print(f"  {label:18} {precision:9.3f} {recall:7.3f} {f1:7.3f}")
    if labelled.agreement:
        # Where the labellers disagreed, no reader can score well; this is the clear-cut part.
        agreed = [index for index, tweet in enumerate(tweets) if tweet.agreement >= AGREED]
        negatives = sum(gold[index] for index in agreed)
        where = f"where labellers agreed ({labelled.agreement} >= {AGREED})"
        print(f"  {where}: {len(agreed):,} tweets, {negatives:,} negative")
        for label, predicted in (("harken triage", harken), ("plain VADER", plain)):
            subset = [predicted[index] for index in agreed]
            precision, recall, f1 = scores([gold[index] for index in agreed], subset)
            print(f"  {label:18} {precision:9.3f} {recall:7.3f} {f1:7.3f}")


def time_both(engines: dict[str, Triage], tweets: Sequence[Tweet], repeats: int) -> list[float]:
    """VADER's CPU time over triage's, per repeat, on the same tweets in alternating chunks."""
    vader = SentimentIntensityAnalyzer()
    chunks = [tweets[start : start + CHUNK] for start in range(0, len(tweets), CHUNK)]
    prepared = [(chunk, json_lines(chunk)) for chunk in chunks]
    ratios = []
    for _ in range(repeats):
        vader_time = triage_time = 0.0
        for chunk, lines in prepared:
            started = time.process_time()
            for tweet in chunk:
                vader.polarity_scores(tweet.text)
            vader_time += time.process_time() - started
            engine = engines[chunk[0].brand]
            started = time.process_time()
            for result in triage_lines(lines, engine, jobs=1):
                assert result.verdict is not None
            triage_time += time.process_time() - started
        ratios.append(vader_time / triage_time)
    return ratios


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "data", nargs="?", type=Path, default=DEFAULT_DATA, help=f"[default: {DEFAULT_DATA}]"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats [default: 3]")
    arguments = parser.parse_args(argv)
    folder: Path = arguments.data
    print(f"data: {folder}; tuned on the {TUNED_ON} set only")
    print(f"machine: Python {sys.version.split()[0]}")
    everything: list[Tweet] = []
    with tempfile.TemporaryDirectory(prefix="harken-quality-") as temporary:
        for labelled in SETS:
            tweets = read_set(folder, labelled)
            brands = sorted({tweet.brand for tweet in tweets})
            engines = {brand: build_engine(Path(temporary), brand) for brand in brands}
            report_set(labelled, tweets, engines)
            everything += tweets
        # Group by brand so each timed chunk has one engine, as one brand's feed would.
        everything.sort(key=lambda tweet: tweet.brand)
        all_engines = {b: build_engine(Path(temporary), b) for b in {t.brand for t in everything}}
        ratios = time_both(all_engines, everything, arguments.repeats)
    spread = f" (min {min(ratios):.2f}, max {max(ratios):.2f})" if len(ratios) > 1 else ""
    print(
        f"\nspeed on all {len(everything):,} tweets, one core: harken triage runs at "
        f"{statistics.median(ratios):.2f} of plain VADER's rate{spread}"
    )


if __name__ == "__main__":
    main()
