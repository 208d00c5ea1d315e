"""`harken triage` throughput, as mentions/s and as a ratio to VADER alone on the same texts.

Run from the repo root:

    .venv/bin/python bench/triage_throughput.py [DATA] [--synthetic] [--repeats N] [--count N]

Three measurements in one process, interleaved in every repeat so machine noise hits them alike:
  (a) VADER alone: polarity_scores on each text as triage sees it (title + "\\n" + text);
  (b) Harken in-process, exactly as the CLI loop does it: read_mention -> Triage -> verdict_line;
  (c) the real CLI, `harken --config TMP triage < input.jsonl > /dev/null`, start-up included.
Figures are medians over the repeats; ratios are taken within a repeat, then the median.
Nothing is asserted: the figures are printed for a person to read.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

import monitor
from monitor.config.load import load_config
from monitor.daemon import wiring
from monitor.triage.jsonl import read_mention, verdict_line
from monitor.triage.verdict import Triage

REPO = Path(__file__).resolve().parent.parent
MONITOR_DIR = str(Path(monitor.__file__).resolve().parent)
DEFAULT_DATA = REPO.parent / "shared" / "data" / "labelled" / "Apple-Twitter-Sentiment-DFE.csv"
TEXT_COLUMNS = ("text", "TweetText")  # Apple-Twitter-Sentiment-DFE.csv, sanders-full-corpus.csv
TARGET_RATIO = 0.8


@dataclass(frozen=True)
class BrandSetup:
    name: str
    terms: tuple[str, ...]
    exclude: tuple[str, ...] = ()


APPLE = BrandSetup("Apple", ("Apple", "@apple", "#AAPL", "iPhone"))
ACME = BrandSetup("Acme", ("Acme", "@acme", "#acme", "Acme Cloud"), ("Acme Hardware",))


# ---- inputs ---------------------------------------------------------------------------------


def read_texts(path: Path) -> list[str]:
    """The tweet texts of a labelled CSV (latin-1), from its first known text column."""
    with path.open(encoding="latin-1", newline="") as file:
        reader = csv.DictReader(file)
        column = next((c for c in TEXT_COLUMNS if c in (reader.fieldnames or ())), None)
        if column is None:
            raise SystemExit(f"{path}: no column named any of {', '.join(TEXT_COLUMNS)}")
        texts = [row[column].strip() for row in reader if row[column] and row[column].strip()]
    if not texts:
        raise SystemExit(f"{path}: the {column} column holds no text")
    return texts


_OPENINGS = [
    "Just tried {brand} for the first time.",
    "Has anyone else had trouble with {brand} today?",
    "Been using {brand} for a year now.",
    "Switched from {rival} to {brand} last month.",
    "My team moved everything to {brand}.",
    "Honest review of {brand}:",
    "{brand} support finally answered.",
    "Thinking about cancelling {brand}.",
]
_MIDDLES = [
    "It is honestly the best tool we have used, fast and reliable.",
    "The new dashboard is great and I love the dark mode!",
    "Worst experience ever, I am furious and nobody answers.",
    "The site is down again and the app keeps crashing.",
    "Login is not working since this morning, error 503 everywhere.",
    "I want a refund, they charged twice for the same month.",
    "Our lawyer says we should take legal action if this goes on.",
    "Apparently there was a data breach and our accounts were compromised.",
    "The charger overheated and nearly caught fire, this is dangerous.",
    "Pretty average, does what it says, nothing special.",
    "I would highly recommend it to any small business.",
    "Yeah right, best service ever /s",
    "Prices went up again but the bill went down after the discount.",
    "Scheduled maintenance tonight, it is down for an hour.",
    "Not sure how I feel about the update yet.",
    "Terrible, slow, broken and overpriced.",
]
_OFF_TOPIC = [
    "Lovely weather in Leeds today, off to the park.",
    "Does anyone know a good recipe for banana bread?",
    "{rival} just announced a new phone and it looks amazing.",
    "Traffic on the M62 is awful this morning, avoid it.",
    "Acme Hardware on Main Street has the best screwdrivers.",
    "The match last night was a disaster, what a terrible defence.",
    "Reading a great book about the history of maps.",
    "My train was cancelled again, third time this week.",
]
_CLOSINGS = ["", "", "Thanks!", "Anyone else?", "Never again.", "10/10.", "Sigh.", "#tech"]
_RIVALS = ["Globex", "Initech", "Umbrella", "Hooli", "Stark Cloud"]
_BRAND_FORMS = ["Acme", "@acme", "#acme", "Acme Cloud", "ACME", "acme"]


def synthetic_texts(count: int, seed: int = 7) -> list[str]:
    """Varied posts: about two in three name the brand; short tweets and long paragraphs."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        if rng.random() < 0.35:
            sentences = [rng.choice(_OFF_TOPIC) for _ in range(rng.choice((1, 1, 2, 4)))]
        else:
            sentences = [rng.choice(_OPENINGS)]
            sentences += rng.sample(_MIDDLES, rng.choice((1, 1, 2, 3, 6)))
            if rng.random() < 0.3:
                sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(_OFF_TOPIC))
        sentences.append(rng.choice(_CLOSINGS))
        brand, rival = rng.choice(_BRAND_FORMS), rng.choice(_RIVALS)
        texts.append(" ".join(s.format(brand=brand, rival=rival) for s in sentences if s))
    return texts


def mention_lines(texts: Sequence[str], count: int, seed: int = 11) -> list[str]:
    """``count`` JSON Lines cycling through ``texts``, with varied ids, titles, metrics, urls."""
    rng = random.Random(seed)
    start = datetime(2024, 5, 1, tzinfo=UTC)
    lines = []
    for number in range(count):
        text = texts[number % len(texts)]
        record: dict[str, Any] = {"id": f"m{number}" if number % 3 else number, "text": text}
        if rng.random() < 0.2:
            # A headline taken from another post, as feeds carry: title and text both get read.
            record["title"] = rng.choice(texts)[:80]
        if rng.random() < 0.5:
            record["url"] = f"https://social.example/status/{number}"
            record["author"] = f"user{rng.randrange(5000)}"
            record["source"] = rng.choice(("x", "reddit", "hn"))
        if rng.random() < 0.4:
            record["metrics"] = {
                "followers": float(rng.choice((12, 340, 2_100, 15_000, 250_000))),
                "likes": float(rng.randrange(200)),
            }
        if rng.random() < 0.5:
            record["published"] = (start + timedelta(minutes=number)).isoformat()
            record["lang"] = rng.choice(("en", "en-GB", "en-US", "de"))
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    return lines


def write_config(directory: Path, brand: BrandSetup) -> Path:
    """A config.toml that runs the repo's shipped rules/ for one brand."""
    path = directory / "config.toml"
    path.write_text(
        "\n".join(
            [
                "[[brands]]",
                f"name = {json.dumps(brand.name)}",
                f"terms = {json.dumps(list(brand.terms))}",
                f"exclude = {json.dumps(list(brand.exclude))}",
                "",
                "[recipients]",
                'oncall = ["oncall@example.com"]',
                'marketing = ["marketing@example.com"]',
                "",
                "[storage]",
                'url = "sqlite:///:memory:"',
                "",
                "[rules]",
                f"path = {json.dumps(str(REPO / 'rules'))}",
                f"lexicon = {json.dumps(str(REPO / 'rules' / 'sentiment' / 'lexicon.toml'))}",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def seen_text(line: str) -> str:
    """The text triage reads for a line: the title, a line break, the text."""
    mention = read_mention(line)
    return f"{mention.title}\n{mention.text}" if mention.title else mention.text


# ---- the three measurements -----------------------------------------------------------------


def time_vader(texts: Sequence[str]) -> float:
    analyzer = SentimentIntensityAnalyzer()  # built outside the clock, like triage's scorer
    started = time.perf_counter()
    for text in texts:
        analyzer.polarity_scores(text)
    return time.perf_counter() - started


def run_triage(engine: Triage, lines: Sequence[str], write: Callable[[str], object]) -> None:
    """The body of the CLI's ``triage`` command, minus stdin and the error count."""
    for line in lines:
        if not line.strip():
            continue
        write(verdict_line(engine(read_mention(line))) + "\n")


def time_triage(engine: Triage, lines: Sequence[str]) -> float:
    with open(os.devnull, "w", encoding="utf-8") as sink:
        started = time.perf_counter()
        run_triage(engine, lines, sink.write)
        return time.perf_counter() - started


def harken_command(config: Path, jobs: int | None = None) -> list[str]:
    script = Path(sys.executable).parent / "harken"
    return [
        str(script),
        "--config",
        str(config),
        "triage",
        *(["--jobs", str(jobs)] if jobs else []),
    ]


def time_cli(config: Path, input_path: Path, jobs: int | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, workers included) of one CLI run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with input_path.open("rb") as stdin:
        started = time.perf_counter()
        done = subprocess.run(
            harken_command(config, jobs),
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"harken triage failed ({done.returncode}):\n{done.stderr.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def cli_output(config: Path, input_path: Path) -> list[str]:
    with input_path.open("rb") as stdin:
        done = subprocess.run(harken_command(config), stdin=stdin, capture_output=True, check=True)
    return done.stdout.decode("utf-8").splitlines()


# ---- reporting ------------------------------------------------------------------------------


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} mentions/s"


def spread(values: Sequence[float]) -> str:
    return f"(min {min(values):.2f}, max {max(values):.2f})" if len(values) > 1 else ""


def describe_input(engine: Triage, lines: Sequence[str]) -> str:
    out = io.StringIO()
    run_triage(engine, lines, out.write)
    verdicts = [json.loads(line) for line in out.getvalue().splitlines()]
    matched = sum(verdict["matched"] for verdict in verdicts)
    severities = Counter(verdict["severity"] for verdict in verdicts if verdict["matched"])
    fired = sum(len(verdict["rules"]) for verdict in verdicts)
    order = ("urgent", "high", "normal", "low", "ignore")
    shown = ", ".join(f"{severities[s]:,} {s}" for s in order if severities[s])
    return f"{matched:,} of {len(verdicts):,} name the brand ({shown}); {fired:,} rule firings"


def print_profile(engine: Triage, lines: Sequence[str], top: int) -> None:
    """Where in-process triage spends its time: top functions in monitor/ by cumulative time."""
    profiler = cProfile.Profile()
    with open(os.devnull, "w", encoding="utf-8") as sink:
        profiler.runcall(run_triage, engine, lines, sink.write)
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())  # total of own times = profiled run time
    print(f"\nprofile of one in-process run under cProfile ({total:.2f} s; cProfile inflates it):")

    def row(label: str, seconds: float, calls: int) -> None:
        print(f"  {seconds:7.3f} s {100 * seconds / total:5.1f}%  {calls:>9,} calls  {label}")

    ours = [(key, entry) for key, entry in raw.items() if key[0].startswith(MONITOR_DIR + os.sep)]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    print("  top functions in monitor/ by cumulative time:")
    for (file, line, name), entry in ours[:top]:
        where = os.path.relpath(file, REPO)
        row(f"{where}:{line} {name}", entry[3], entry[1])
    print("  what they call outside monitor/ (cumulative):")
    outside = {
        "vaderSentiment polarity_scores": ("vaderSentiment.py", "polarity_scores"),
        "pydantic model_validate_json": ("main.py", "model_validate_json"),
        "json.dumps": ("__init__.py", "dumps"),
    }
    for label, (file_suffix, name_part) in outside.items():
        keys = [k for k in raw if name_part in k[2] and k[0].endswith(file_suffix)]
        seconds = sum(raw[k][3] for k in keys)
        calls = sum(raw[k][1] for k in keys)
        row(label, seconds, calls)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "data",
        nargs="?",
        type=Path,
        default=DEFAULT_DATA,
        help=f"labelled CSV with a {' or '.join(TEXT_COLUMNS)} column [default: {DEFAULT_DATA}]",
    )
    parser.add_argument(
        "--synthetic", action="store_true", help="generate the texts; read no data file"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats [default: 3]")
    parser.add_argument("--count", type=int, default=10_000, help="mentions [default: 10000]")
    parser.add_argument("--top", type=int, default=10, help="profile rows [default: 10]")
    arguments = parser.parse_args(argv)
    if arguments.repeats < 1 or arguments.count < 1:
        parser.error("--repeats and --count must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    count: int = arguments.count
    if arguments.synthetic:
        texts, brand, origin = synthetic_texts(count), ACME, "synthetic texts"
    else:
        data: Path = arguments.data
        if not data.is_file():
            raise SystemExit(f"{data}: no such data file (give a path, or use --synthetic)")
        texts, brand = read_texts(data), APPLE
        origin = f"{len(texts):,} texts of {data}"
    lines = mention_lines(texts, count)
    seen = [seen_text(line) for line in lines]

    with tempfile.TemporaryDirectory(prefix="harken-bench-") as temporary:
        directory = Path(temporary)
        config_file = write_config(directory, brand)
        input_path = directory / "input.jsonl"
        input_path.write_text("".join(lines), encoding="utf-8")
        empty_input = directory / "empty.jsonl"
        empty_input.write_text("", encoding="utf-8")

        config = load_config(config_file)
        engine = wiring.build_triage(config, wiring.load_config_rules(config))
        mean_length = statistics.fmean(len(text) for text in seen)
        print(f"input: {count:,} mentions from {origin}; brand {brand.name} {list(brand.terms)}")
        print(f"       {describe_input(engine, lines)}; mean text {mean_length:.0f} chars")
        print(f"rules: {len(engine.rules.rules)} from {REPO / 'rules'}")
        load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
        print(f"machine: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}")
        with io.StringIO() as expected:
            run_triage(engine, lines, expected.write)
            agree = cli_output(config_file, input_path) == expected.getvalue().splitlines()
        print(f"check: CLI output {'equals' if agree else 'DIFFERS FROM'} the in-process output")

        # Warm up both paths (lazy imports, regex caches) off the clock.
        time_vader(seen[:500])
        time_triage(engine, lines[:500])

        vader: list[float] = []
        inproc: list[float] = []
        one_job: list[tuple[float, float]] = []
        all_jobs: list[tuple[float, float]] = []
        startup: list[float] = []
        for _ in range(arguments.repeats):
            vader.append(time_vader(seen))
            inproc.append(time_triage(engine, lines))
            one_job.append(time_cli(config_file, input_path, jobs=1))
            all_jobs.append(time_cli(config_file, input_path))
            startup.append(time_cli(config_file, empty_input, jobs=1)[0])

    median = statistics.median

    def ratios(times: Sequence[float]) -> str:
        values = [v / t for v, t in zip(vader, times, strict=True)]
        return f"ratio {median(values):.2f} {spread(values)}"

    print(
        f"\nmedian of {arguments.repeats} repeats (ratio = harken rate / vader rate, same repeat):"
    )
    print(f"vader alone, one core:              {rate(count, median(vader))}")
    print(f"harken triage in-process, one core: {rate(count, median(inproc))}  {ratios(inproc)}")
    walls = [wall for wall, _ in one_job]
    print(f"harken triage --jobs 1 (CLI):       {rate(count, median(walls))}  {ratios(walls)}")
    walls = [wall for wall, _ in all_jobs]
    cpu = median([used for _, used in all_jobs])
    print(
        f"harken triage (CLI, {os.cpu_count()} CPUs):       {rate(count, median(walls))}  {ratios(walls)}"
    )
    print(
        f"  its CPU time: {cpu:.2f} s for {count:,} mentions ({cpu / count * 1e6:.0f} µs each, start-up included)"
    )
    print(f"harken start-up (empty input):      {median(startup):.2f} s")
    cli_ratio = median([v / w for v, w in zip(vader, walls, strict=True)])
    verdict = "meets" if cli_ratio >= TARGET_RATIO else "misses"
    print(f"target: harken triage at {TARGET_RATIO} of vader's rate or better -> {verdict}")
    print_profile(engine, lines, arguments.top)


if __name__ == "__main__":
    main()
