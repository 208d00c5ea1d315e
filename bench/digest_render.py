"""How long a digest of many mentions takes to build and render, and how big its HTML is.

Run from the repo root:

    .venv/bin/python bench/digest_render.py [--count 5000] [--repeats 5] [--top 20]

Every repeat measures, interleaved so machine noise hits them alike:
  (a) the digest of --count mentions: build_digest, then render_digest (both templates, the
      chart PNG, CSS inlining), each timed;
  (b) the same for 50 mentions: the fixed cost of a digest, whatever its size;
  (c) json.dumps of the --count mentions' fields: the floor for touching every mention once.
Figures are medians over the repeats; ratios are taken within a repeat, then the median.
Nothing is asserted: the figures are printed for a person to read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.digest import Digest, build_digest, render_digest
from monitor.digest.chart import volume_chart
from monitor.mail.mailer import Email
from monitor.mail.templates import Templates
from monitor.mention import Mention, Sentiment, Severity, Verdict
from monitor.storage import StoredVerdict

REPO = Path(__file__).resolve().parent.parent
END = datetime(2026, 5, 13, 7, 0, tzinfo=UTC)
START = END - timedelta(days=1)
TARGET_SECONDS = 1.0
TARGET_BYTES = 200_000
GMAIL_CLIP_BYTES = 102_000  # Gmail cuts a message body longer than about this
BASELINE_COUNT = 50

_VOCABULARY = (
    "acme cloud outage support refund billing dashboard latency api region pricing login "
    "release update team customer account error timeout great terrible love hate fast slow "
    "again today week month engineers status page incident write-up honest free tier"
)
_SOURCES = ("x_acme", "reddit_acme", "hn_acme", "mastodon_acme", "google_news_acme", "bluesky")


def synthetic_mentions(count: int, seed: int = 3) -> list[StoredVerdict]:
    """``count`` matched mentions over one day: varied sentiment, sources, tags, authors and
    reach, long texts, and a busy afternoon hour."""
    rng = random.Random(seed)
    words = _VOCABULARY.split()
    found = []
    for number in range(count):
        if rng.random() < 0.15:
            at = START + timedelta(hours=6, minutes=rng.randrange(60))
        else:
            at = START + timedelta(seconds=rng.randrange(24 * 3600))
        label = rng.choices(("negative", "neutral", "positive"), (3, 5, 2))[0]
        compound = {"negative": -rng.random(), "neutral": 0.0, "positive": rng.random()}[label]
        severity = rng.choices(
            (Severity.URGENT, Severity.HIGH, Severity.NORMAL, Severity.LOW), (1, 3, 30, 10)
        )[0]
        source = rng.choice(_SOURCES)
        mention = Mention(
            source=source,
            id=f"m{number}",
            title=" ".join(rng.choices(words, k=rng.randrange(5, 14))).capitalize(),
            text=" ".join(rng.choices(words, k=rng.randrange(20, 80))) + " <b>&amp;</b>",
            url=f"https://social.example/{source}/{number}",
            author=f"@user{rng.randrange(2000)}",
            published=at,
            metrics={"followers": float(rng.choice((10, 300, 4_000, 52_000, 1_300_000)))},
        )
        verdict = Verdict(
            mention=mention,
            matched=True,
            brands=("Acme",) if rng.random() < 0.9 else ("Acme", "Acme Cloud"),
            sentiment=Sentiment(compound=round(compound, 3), label=label),
            severity=severity,
            tags=tuple(rng.sample(("outage", "billing", "praise", "support", "security"), 2)),
            reasons=("names Acme",),
        )
        found.append(StoredVerdict(id=number, verdict=verdict, stored_at=at))
    return found


@dataclass(frozen=True)
class Timing:
    build: float
    render: float

    @property
    def total(self) -> float:
        return self.build + self.render


def time_digest(stored: Sequence[StoredVerdict], templates: Templates, top: int) -> Timing:
    started = time.perf_counter()
    digest = build_digest(
        stored, START, END, organisation="Acme Ltd", timezone="Europe/London", top=top
    )
    built = time.perf_counter()
    render_digest(digest, templates)
    return Timing(built - started, time.perf_counter() - built)


def as_json(stored: Sequence[StoredVerdict]) -> str:
    """Every field the digest reads, as JSON: the cost of visiting each mention once."""
    rows: list[dict[str, Any]] = []
    for item in stored:
        verdict, mention = item.verdict, item.verdict.mention
        rows.append(
            {
                "id": item.id,
                "stored_at": item.stored_at.isoformat(),
                "source": mention.source,
                "title": mention.title,
                "text": mention.text,
                "url": mention.url,
                "author": mention.author,
                "followers": mention.metrics.get("followers"),
                "label": verdict.sentiment.label,
                "compound": verdict.sentiment.compound,
                "severity": verdict.severity.value,
                "tags": list(verdict.tags),
            }
        )
    return json.dumps(rows)


def time_call(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def stage_times(digest: Digest, templates: Templates) -> dict[str, float]:
    """Where one render's time goes: the chart, the two templates, CSS inlining."""
    import css_inline

    from monitor.digest.send import chart_alt, per_words, period_label, sparkline

    context = {
        "digest": digest,
        "period": period_label(digest.start, digest.end, digest.timezone),
        "timezone": digest.timezone,
        "per": per_words(digest.bucket),
        "chart": "cid:chart@harken",
        "chart_alt": chart_alt(digest),
        "sparkline": sparkline(digest.timeline),
    }
    html = templates.render("digest.html.j2", context)
    inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
    return {
        "chart PNG": time_call(lambda: volume_chart(digest)),
        "HTML template": time_call(lambda: templates.render("digest.html.j2", context)),
        "text template": time_call(lambda: templates.render("digest.txt.j2", context)),
        "CSS inlining": time_call(lambda: inliner.inline(html)),
    }


def spread(values: Sequence[float]) -> str:
    return f"(min {min(values):.2f}, max {max(values):.2f})" if len(values) > 1 else ""


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=5000, help="mentions [default: 5000]")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats [default: 5]")
    parser.add_argument("--top", type=int, default=20, help="items per list [default: 20]")
    arguments = parser.parse_args(argv)
    if arguments.count < 1 or arguments.repeats < 1 or arguments.top < 1:
        parser.error("--count, --repeats and --top must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    count, top = arguments.count, arguments.top
    templates = Templates(REPO / "templates")
    many = synthetic_mentions(count)
    few = many[:BASELINE_COUNT]
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"input: {count:,} mentions over one day (baseline: {BASELINE_COUNT}); top {top}")
    print(f"machine: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load}")

    started = time.perf_counter()
    first = time_digest(many, templates, top)  # includes compiling both templates
    cold = time.perf_counter() - started
    print(f"first render, templates compiled on the way: {cold:.3f} s (build {first.build:.3f} s)")

    large: list[Timing] = []
    small: list[Timing] = []
    dumps: list[float] = []
    for _ in range(arguments.repeats):
        large.append(time_digest(many, templates, top))
        small.append(time_digest(few, templates, top))
        dumps.append(time_call(lambda: as_json(many)))

    median = statistics.median
    digest = build_digest(
        many, START, END, organisation="Acme Ltd", timezone="Europe/London", top=top
    )
    email: Email = render_digest(digest, templates)
    html_bytes = len((email.html or "").encode())
    text_bytes = len(email.text.encode())
    png_bytes = sum(len(image.data) for image in email.images)

    totals = [t.total for t in large]
    print(f"\nmedian of {arguments.repeats} repeats:")
    print(
        f"digest of {count:,} mentions:  {median(totals):.3f} s "
        f"(build {median([t.build for t in large]):.3f} s, render {median([t.render for t in large]):.3f} s)"
    )
    print(f"digest of {BASELINE_COUNT} mentions:     {median([t.total for t in small]):.3f} s")
    print(f"json.dumps of {count:,} mentions: {median(dumps):.3f} s")
    by_size = [t.total / s.total for t, s in zip(large, small, strict=True)]
    by_json = [t.total / d for t, d in zip(large, dumps, strict=True)]
    print(f"ratio to the {BASELINE_COUNT}-mention digest: {median(by_size):.2f} {spread(by_size)}")
    print(f"ratio to json.dumps of the same mentions: {median(by_json):.2f} {spread(by_json)}")
    print("where one render's time goes:")
    for stage, seconds in stage_times(digest, templates).items():
        print(f"  {stage:<14} {seconds * 1000:7.1f} ms")
    print(
        f"\nsizes: HTML {html_bytes:,} bytes, text {text_bytes:,} bytes, chart PNG {png_bytes:,} bytes"
    )
    print(
        f"  links in the HTML: {(email.html or '').count('<a '):,} (top lists, not every mention)"
    )
    time_verdict = "meets" if median(totals) < TARGET_SECONDS else "misses"
    size_verdict = "meets" if html_bytes < TARGET_BYTES else "misses"
    print(f"target: under {TARGET_SECONDS:.0f} s -> {time_verdict}")
    print(f"target: HTML under {TARGET_BYTES // 1000} KB -> {size_verdict}")
    clip = "under" if html_bytes < GMAIL_CLIP_BYTES else "OVER"
    print(f"  ({clip} Gmail's ~{GMAIL_CLIP_BYTES // 1000} KB clipping point)")


if __name__ == "__main__":
    main()
