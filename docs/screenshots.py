"""Render a sample digest and a sample alert, and screenshot them at phone and desktop widths.

Run from the repo root (Chromium must be installed: `apt-get install -y chromium`):

    .venv/bin/python docs/screenshots.py [--chromium /usr/bin/chromium] [--out docs]

Writes sample-digest.html, sample-digest.txt, sample-alert.html and five PNGs:
digest-390.png, digest-1200.png, alert-390.png, alert-1200.png, and digest-390-dark.png (the
digest as a mail client in dark mode shows it). The samples are made up here
(Acme, a fictional brand), rendered with the templates in templates/ exactly as Harken mails them,
the chart as a data URI instead of a cid: attachment. Chromium runs headless with no network use.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerts.compose import compose_alert
from monitor.digest import Response, build_digest, render_digest
from monitor.mail.templates import Templates
from monitor.mention import Mention, Sentiment, Severity, Verdict
from monitor.storage import StoredVerdict

REPO = Path(__file__).resolve().parent.parent
END = datetime(2026, 5, 13, 7, 0, tzinfo=UTC)  # 08:00 in London
START = END - timedelta(days=1)
WIDTHS = (390, 1200)
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)

AUTHORS = (  # handle, platform (a configured source), followers
    ("@cloudwatcher", "x_acme", 1_240_000),
    ("@devopsdaily", "x_acme", 254_000),
    ("@sre_sam@hachyderm.io", "mastodon_acme", 48_300),
    ("u/throwaway_ops", "reddit_acme", 12_100),
    ("@priya_builds", "x_acme", 9_800),
    ("u/acme_fan_42", "reddit_acme", 1_530),
    ("jmartin", "hn_acme", 640),
    ("Tech Weekly", "google_news_acme", 0),
)
NEGATIVE = (
    ("Acme Cloud is down again, 503 on every request since 14:05", "Our whole stack is on it."),
    ("Anyone else getting timeouts from Acme's API?", "Checkout has been dead for 20 minutes."),
    ("Acme support has not answered in 3 hours", "Three hours, during an outage. Not good."),
    ("Acme billed us twice this month", "And the refund form returns an error."),
    ("Moving off Acme after today", "Third outage this quarter; we are evaluating Globex."),
    ("Acme dashboard keeps logging me out", "Every ten minutes, on two browsers."),
)
NEUTRAL = (
    ("Acme announces a new region in Frankfurt", "Available from next month."),
    ("Comparing Acme Cloud and Globex for a small team", "Notes from a week of trials."),
    ("Acme status page: degraded performance in eu-west", "Engineers are investigating."),
    ("Acme Cloud pricing changes from June", "Storage up, egress down."),
    ("How do I rotate keys in Acme?", "The docs page seems to be out of date."),
)
POSITIVE = (
    ("Acme support fixed our issue in ten minutes", "Brilliant team, thank you."),
    ("Loving the new @acme dashboard", "Dark mode is gorgeous."),
    ("We cut our hosting bill by 40% moving to Acme Cloud", "Write-up with numbers inside."),
    ("Acme's incident write-up is a model of honesty", "More companies should do this."),
    ("Shout-out to Acme for the free tier", "Perfect for students."),
)


def sample_verdicts(seed: int = 5) -> list[StoredVerdict]:
    """About a hundred made-up mentions over one day, with an outage spike in the afternoon."""
    rng = random.Random(seed)
    found: list[StoredVerdict] = []

    def add(
        at: datetime,
        label: str,
        post: tuple[str, str],
        severity: Severity,
        tags: Sequence[str],
        compound: float | None = None,
    ) -> None:
        number = len(found) + 1
        author, source, followers = rng.choice(AUTHORS)
        if compound is None:
            compound = {
                "negative": -rng.uniform(0.3, 0.95),
                "neutral": rng.uniform(-0.04, 0.04),
                "positive": rng.uniform(0.3, 0.95),
            }[label]
        mention = Mention(
            source=source,
            id=str(number),
            title=post[0],
            text=post[1],
            url=f"https://social.example/acme/{number}",
            author=author,
            published=at,
            metrics={"followers": float(followers)} if followers else {},
        )
        verdict = Verdict(
            mention=mention,
            matched=True,
            brands=("Acme",),
            sentiment=Sentiment(compound=round(compound, 2), label=label),
            severity=severity,
            tags=tuple(tags),
        )
        found.append(StoredVerdict(id=number, verdict=verdict, stored_at=at + timedelta(minutes=2)))

    for _ in range(70):
        at = START + timedelta(minutes=rng.randrange(24 * 60))
        label = rng.choices(("negative", "neutral", "positive"), (2, 5, 3))[0]
        pool = {"negative": NEGATIVE[3:], "neutral": NEUTRAL, "positive": POSITIVE}[label]
        tags = {"negative": ("complaint",), "neutral": (), "positive": ("praise",)}[label]
        add(at, label, rng.choice(pool), Severity.NORMAL, tags)
    outage = START + timedelta(hours=6, minutes=5)  # 14:05 in London
    for minute in range(0, 55, 2):
        add(
            outage + timedelta(minutes=minute),
            "negative",
            rng.choice(NEGATIVE[:3]),
            rng.choice((Severity.URGENT, Severity.HIGH)),
            ("outage",),
        )
    # Text from the public is shown, never obeyed: this title must appear as typed.
    hostile = ('Acme <img src=x onerror="alert(1)"> & "friends" broke prod', "<b>not bold</b>")
    add(outage + timedelta(minutes=7), "negative", hostile, Severity.URGENT, ("outage",), -0.97)
    return found


def sample_responses(stored: Sequence[StoredVerdict]) -> dict[int, Response]:
    """Some alerts answered: the sample shows every status."""
    urgent = [s.id for s in stored if s.verdict.severity in {Severity.URGENT, Severity.HIGH}]
    responses = {}
    for index, mention_id in enumerate(urgent):
        if index % 3 == 0:
            responses[mention_id] = Response("resolved", timedelta(minutes=4 + 2 * index))
        elif index % 3 == 1:
            responses[mention_id] = Response("acknowledged", timedelta(minutes=9 + 5 * index))
    return responses


def render_samples(out: Path) -> dict[str, Path]:
    """Write the sample digest (HTML and text) and the sample alert; return the HTML files."""
    templates = Templates(REPO / "templates")
    stored = sample_verdicts()
    digest = build_digest(
        stored,
        START,
        END,
        organisation="Acme Ltd",
        timezone="Europe/London",
        top=8,
        responses=sample_responses(stored),
    )
    email = render_digest(digest, templates)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sample-digest.html").write_text(email.html_for_file(), encoding="utf-8")
    (out / "sample-digest.txt").write_text(email.text, encoding="utf-8")

    urgent = next(s for s in stored if s.verdict.severity is Severity.URGENT)
    alert = compose_alert(
        urgent.verdict,
        templates,
        alert_id=1042,
        created_at=urgent.stored_at,
        organisation="Acme Ltd",
        timezone="Europe/London",
        # As [web] signs them; the signature here is made up.
        ack_url="https://harken.example.org/alerts/1042/ack?expires=1778673600&sig=c2FtcGxl",
        resolve_url="https://harken.example.org/alerts/1042/resolve?expires=1778673600&sig=c2FtcGxl",
    )
    (out / "sample-alert.html").write_text(alert.html or "", encoding="utf-8")
    return {"digest": out / "sample-digest.html", "alert": out / "sample-alert.html"}


def chromium_run(chromium: str, profile: Path, arguments: Sequence[str]) -> str:
    done = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"chromium failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def page_height(chromium: str, profile: Path, page: Path, width: int) -> int:
    """How tall ``page`` lays out at ``width``, measured in an iframe of that width.

    Headless Chromium will not make a window narrower than 500 px, but an iframe can be, and its
    media queries see the iframe's width, as a phone's would.
    """
    probe = profile / "probe.html"
    probe.write_text(
        "<!DOCTYPE html><html><body style='margin:0'>"
        f"<iframe id='page' src='{page.as_uri()}' style='width:{width}px;height:100px;border:0'>"
        "</iframe><script>addEventListener('load', function () { document.title = 'height:' + "
        "document.getElementById('page').contentDocument.documentElement.scrollHeight; });"
        "</script></body></html>",
        encoding="utf-8",
    )
    dom = chromium_run(
        chromium,
        profile,
        ["--allow-file-access-from-files", "--dump-dom", "--window-size=1300,100", probe.as_uri()],
    )
    marker = dom.split("<title>height:", 1)[-1].split("<", 1)[0]
    if not marker.isdigit():
        raise SystemExit(f"could not measure {page} at {width} px")
    return int(marker)


def screenshot(chromium: str, page: Path, width: int, target: Path, *, dark: bool = False) -> None:
    """A PNG of the whole page at ``width``; ``dark`` asks for the page's dark colour scheme."""
    scheme = ["--blink-settings=preferredColorScheme=0"] if dark else []
    with tempfile.TemporaryDirectory(prefix="harken-chromium-") as profile:
        height = page_height(chromium, Path(profile), page, width)
        chromium_run(
            chromium,
            Path(profile),
            [*scheme, f"--screenshot={target}", f"--window-size={width},{height}", page.as_uri()],
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    arguments = parser.parse_args(argv)
    if not Path(arguments.chromium).exists():
        sys.exit(f"{arguments.chromium}: no Chromium here; apt-get install -y chromium")
    pages = render_samples(arguments.out)
    for name, page in pages.items():
        for width in WIDTHS:
            target = arguments.out / f"{name}-{width}.png"
            screenshot(arguments.chromium, page, width, target)
            print(f"wrote {target}")
    dark = arguments.out / "digest-390-dark.png"
    screenshot(arguments.chromium, pages["digest"], 390, dark, dark=True)
    print(f"wrote {dark}")


if __name__ == "__main__":
    main()
