"""A pile-on is one spike with a count and examples; an ordinary busy hour is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.triage.spikes import FiredMention, SpikeWatch, detect

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
WATCH = SpikeWatch(window=timedelta(hours=1), baseline=timedelta(days=7), factor=3, min_count=10)


def steady(per_hour: int, negative: bool = False) -> list[FiredMention]:
    """A week of mentions at an even rate, ending where the window starts."""
    start = NOW - timedelta(hours=1) - timedelta(days=7)
    step = timedelta(hours=1) / per_hour
    count = per_hour * 24 * 7
    return [FiredMention(start + step * n, negative, f"usual {n}", "") for n in range(count)]


def burst(count: int, negative: bool = True) -> list[FiredMention]:
    return [
        FiredMention(
            NOW - timedelta(minutes=59) + timedelta(seconds=n),
            negative,
            f"pile-on {n}",
            f"https://x.example/{n}",
        )
        for n in range(count)
    ]


def test_a_pile_on_is_one_spike_with_a_count_and_the_newest_examples() -> None:
    spike = detect(WATCH, steady(2) + burst(40), NOW)
    assert spike is not None
    assert spike.count == 40
    assert spike.usual == 2
    assert [example.title for example in spike.examples] == [
        f"pile-on {n}" for n in (39, 38, 37, 36, 35)
    ]
    text = spike.describe("complaint", WATCH)
    assert (
        text.splitlines()[0]
        == "spike: 40 mentions for rule complaint in the last hour, usually 2.0"
    )
    assert "https://x.example/39" in text


def test_a_busy_hour_within_three_times_the_usual_is_no_spike() -> None:
    assert detect(WATCH, steady(5) + burst(15), NOW) is None


def test_a_few_mentions_are_never_a_spike_even_with_no_history() -> None:
    assert detect(WATCH, burst(9), NOW) is None
    assert detect(WATCH, burst(10), NOW) is not None


def test_the_negative_share_can_spike_while_the_count_stays_usual() -> None:
    watch = SpikeWatch(measure="negative_share", factor=3, min_count=10)
    calm_week = (
        steady(10, negative=False)[::10] + steady(10, negative=True)[1::50]
    )  # about 2% negative
    angry_hour = burst(8, negative=True) + burst(4, negative=False)
    spike = detect(watch, calm_week + angry_hour, NOW)
    assert spike is not None
    assert spike.level == 8 / 12
    assert spike.describe("complaint", watch).startswith(
        "spike: 67% of 12 mentions for rule complaint are negative"
    )
