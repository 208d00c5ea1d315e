"""Counters the Harken process keeps for ``/metrics``, and the Prometheus text format they print in.

The counters live in this process only and start at zero on every restart, as Prometheus
counters should; what the database already keeps (the outbox, source health) is read there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.pipeline import PollSummary

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Family:
    """One metric: its name, type, help line and samples by label set."""

    name: str
    kind: str  # "counter" or "gauge"
    help: str
    samples: Mapping[Labels, float]


_HELP = {
    "harken_polls_total": "Polls of each source, failed or not.",
    "harken_poll_errors_total": "Polls of each source that failed.",
    "harken_mentions_stored_total": "Mentions stored by this process, by severity (urgent or other).",
}


class Metrics:
    """Thread-safe counters by name and labels; polls run in several threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[Labels, float]] = {name: {} for name in _HELP}

    def increment(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            samples = self._counts.setdefault(name, {})
            samples[key] = samples.get(key, 0) + amount

    def record_poll(self, summary: PollSummary) -> None:
        """Count one poll, its error if any, and the mentions it stored."""
        self.increment("harken_polls_total", source=summary.source)
        if summary.error is not None:
            self.increment("harken_poll_errors_total", source=summary.source)
        if summary.urgent:
            self.increment("harken_mentions_stored_total", summary.urgent, severity="urgent")
        if summary.stored - summary.urgent:
            self.increment(
                "harken_mentions_stored_total", summary.stored - summary.urgent, severity="other"
            )

    def families(self) -> list[Family]:
        with self._lock:
            return [
                Family(name, "counter", _HELP.get(name, name), dict(samples))
                for name, samples in self._counts.items()
            ]


REGISTRY = Metrics()  # the process's counters: one Harken daemon per process


def render(families: Iterable[Family]) -> str:
    """The families in the Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape(family.help, quote=False)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for labels, value in sorted(family.samples.items()):
            shown = ",".join(f'{key}="{_escape(text)}"' for key, text in labels)
            lines.append(
                f"{family.name}{{{shown}}} {_number(value)}"
                if shown
                else f"{family.name} {_number(value)}"
            )
    return "\n".join(lines) + "\n"


def _escape(text: str, quote: bool = True) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n")
    return text.replace('"', '\\"') if quote else text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
