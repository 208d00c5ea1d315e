"""CPU of parsing real feeds whole and with the prefilter (sources/prefilter.py), side by side.

Run from the repo root:

    .venv/bin/python bench/prefilter_parse.py [DATA_DIR] [--needles WORD ...]

Each feed under DATA_DIR (default ../shared/data/feeds) is parsed as sources/rss.py parses it,
whole and with the needles of a brand config (default: one brand, "acme", which no feed names),
best of three rounds; JSON Feed, HTML and OPML files are left out. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from monitor.errors import BadPayload
from sources.feed_parse import parse_feed

REPO = Path(__file__).resolve().parent.parent
NOT_FEEDS = {".json", ".html", ".htm", ".opml"}


def cpu(bodies: list[bytes], needles: frozenset[str] | None) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for body in bodies:
            parse_feed("bench", body, "application/xml", "https://feed.example/", 500, needles)
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("data", nargs="?", type=Path, default=REPO.parent / "shared/data/feeds")
    options.add_argument("--needles", nargs="*", default=["acme"])
    args = options.parse_args()
    bodies = []
    for path in sorted(args.data.rglob("*")):
        if (
            not path.is_file()
            or path.suffix.lower() in NOT_FEEDS
            or path.name.startswith("LICENSE")
        ):
            continue
        try:
            parse_feed("bench", path.read_bytes(), "application/xml", "u", 500)
        except BadPayload:
            continue
        bodies.append(path.read_bytes())
    whole = cpu(bodies, None)
    cut = cpu(bodies, frozenset(word.lower() for word in args.needles))
    print(f"{len(bodies)} feeds, {sum(map(len, bodies)) / 1e6:.1f} MB, needles {args.needles}")
    print(f"whole:      {whole:.3f} s CPU, {whole / len(bodies) * 1000:.2f} ms per feed")
    print(f"prefilter:  {cut:.3f} s CPU, {cut / len(bodies) * 1000:.2f} ms per feed")
    print(f"ratio whole/prefilter: {whole / cut:.2f}")


if __name__ == "__main__":
    main()
