"""How triage time grows with the length of one post: it must grow linearly.

A post that names the brand in every sentence ("Acme is terrible. " repeated) is triaged at
doubling lengths; the figure to read is the time per sentence, which should stay flat, and its
ratio to the shortest run's. Beyond [triage] max_text_chars only the start of a post is read,
so the longest runs show that bound at work.

    .venv/bin/python bench/triage_scaling.py
"""

from __future__ import annotations

import time
from pathlib import Path

from monitor.config.load import load_config
from monitor.daemon import wiring
from monitor.mention import Mention
from monitor.triage.verdict import Triage

REPO = Path(__file__).resolve().parent.parent
SENTENCE = "Acme is terrible. "


def seconds_to_triage(triage: Triage, sentences: int, repeats: int = 3) -> float:
    mention = Mention(source="bench", id="1", text=SENTENCE * sentences)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        triage(mention)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    config = load_config(REPO / "config.toml")
    triage = wiring.build_triage(config, wiring.load_config_rules(config))
    limit = config.settings.triage.max_text_chars
    print(f"[triage] max_text_chars = {limit:,} ({limit // len(SENTENCE):,} sentences)")
    print(f"{'sentences':>10} {'chars':>10} {'ms':>9} {'us/sentence':>12} {'ratio':>6}")
    baseline = None
    for sentences in (125, 250, 500, 1000, 2000, 4000, 16_000, 290_000):
        seconds = seconds_to_triage(triage, sentences)
        per_sentence = seconds / min(sentences, limit / len(SENTENCE)) * 1e6
        baseline = baseline or per_sentence
        print(
            f"{sentences:>10,} {sentences * len(SENTENCE):>10,} {seconds * 1e3:>9.1f}"
            f" {per_sentence:>12.1f} {per_sentence / baseline:>6.2f}"
        )


if __name__ == "__main__":
    main()
