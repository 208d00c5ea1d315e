"""`harken triage` fed what an attacker or a broken export would send: every bad line is named
by number, every good line still gets its verdict, and nothing ends in a traceback."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

CONFIG = REPO / "config.toml"


def triage(stdin: bytes, folder: Path, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(CONFIG), "triage", "--jobs", "1"],
        cwd=folder,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )


def _hostile_line(draw: random.Random) -> bytes:
    """One line a good reader must refuse, drawn from the shapes seen in the wild."""
    shapes: list[bytes] = [
        b'{"id": "x", "text": "Acme", "published": "9999-12-31T23:59:59-23:59"}',
        b'{"id": "x", "text": "Acme", "published": "0001-01-01T00:00:00+14:00"}',
        b'{"id": "x", "text": "Acme", "metrics": {"likes": NaN}}',
        b'{"id": "x", "text": "Acme", "metrics": {"likes": Infinity}}',
        b'{"id": "x", "text": "Acme", "metrics": {"likes": 1e999}}',
        b'{"id": "x", "text": "Acme", "metrics": {"likes": "many"}}',
        b'{"id": ' + b"9" * draw.randint(4300, 6000) + b', "text": "Acme"}',
        b'{"id": ["a"], "text": "Acme"}',
        b'{"id": "x", "text": 42}',
        b'{"id": "x", "text": null}',
        b'{"id": "x"}',
        b"[" * draw.randint(300, 5000) + b"]" * draw.randint(0, 5000),
        b'{"id": "x", "text": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}",
        b'{"id": "x", "text": "Acme \xff\xfe broken"}',
        b'{"id": "x", "text": "Acme \xed\xa0\x80 surrogate"}',
        b'{"id": "x", "text": "Acme \\ud800 lone"}',
        b'{"id": "x", "text": "Acme \x00 raw NUL"}',
        b'{"id": "x", "text": "Acme", "published": "2026-13-45T99:99:99Z"}',
        b'{"id": "x", "text": "Acme", "published": 1e300}',
        b"\x00\x01\x02\x03",
        b"{",
        b'"just a string"',
        b"null",
        b'{"id": "x", "text": "Acme", "title": {"nested": true}}',
    ]
    return draw.choice(shapes)


def _good_line(draw: random.Random, number: int) -> bytes:
    """A line that must get a verdict, however odd its text."""
    texts = [
        "Acme support is awful, still waiting",
        "Acme \u202e\u202d reversed text \u2066isolate\u2069",
        "Acme \\u0000 escaped NUL is text like any other",
        "Acme " + "z" * draw.randint(1, 3) * 1000,
        "no brand here at all",
        "\U0001f621 Acme \U0001f621",
        "Acme is terrible. " * draw.randint(1, 300),
    ]
    fields: dict[str, object] = {"id": f"good-{number}", "text": draw.choice(texts)}
    if draw.random() < 0.3:
        fields["published"] = draw.choice(
            ["2026-11-21T09:00:00Z", "2026-11-21T09:00:00-23:59", "0001-01-02T00:00:00Z"]
        )
    if draw.random() < 0.3:
        fields["metrics"] = {"likes": draw.randint(0, 10**9), "score": -1.5}
    return json.dumps(fields).encode()


@pytest.mark.slow
def test_a_few_hundred_hostile_lines_are_each_named_and_every_good_line_answered(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("HARKEN_FUZZ_SEED", random.randrange(1 << 32)))
    draw = random.Random(seed)
    lines: list[bytes] = []
    good: list[str] = []
    bad: list[int] = []
    for number in range(1, 401):
        if draw.random() < 0.5:
            lines.append(_hostile_line(draw))
            bad.append(number)
        else:
            lines.append(_good_line(draw, number))
            good.append(f"good-{number}")
    # A byte order mark on line 1 is an editor's habit, not a mistake.
    lines.insert(0, b'\xef\xbb\xbf{"id": "bom", "text": "Acme is lovely"}')
    good.insert(0, "bom")
    bad = [number + 1 for number in bad]

    result = triage(b"\n".join(lines) + b"\n", tmp_path)

    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, f"seed {seed}:\n{stderr[-3000:]}"
    answered = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert answered == good, f"seed {seed}"
    named = [int(line.split(":")[0].removeprefix("line ")) for line in stderr.splitlines()]
    assert named == bad, f"seed {seed}:\n{stderr[-3000:]}"
    assert result.returncode == 1


def test_out_of_range_dates_and_bad_numbers_are_explained(tmp_path: Path) -> None:
    lines = [
        b'{"id": "b", "text": "Acme", "published": "9999-12-31T23:59:59-23:59"}',
        b'{"id": "c", "text": "Acme", "metrics": {"likes": NaN}}',
        b'{"id": "d", "text": "Acme \xff"}',
        b'{"id": "ok", "text": "Acme is awful"}',
    ]
    result = triage(b"\n".join(lines) + b"\n", tmp_path)
    assert result.stderr.decode().splitlines() == [
        'line 1: field "published": 9999-12-31T23:59:59-23:59 is out of range in UTC',
        'line 2: field "metrics.likes": Input should be a finite number',
        "line 3: not valid UTF-8 (byte 0xff at column 27)",
    ]
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["ok"]


@pytest.mark.slow
def test_a_five_megabyte_post_is_triaged_in_seconds(tmp_path: Path) -> None:
    # Before sentiment read each sentence's own brand hits, this took minutes: every sentence
    # looked at every hit in the post.
    post = {"id": "huge", "text": "Acme is terrible. " * 290_000}
    result = triage(json.dumps(post).encode() + b"\n", tmp_path, timeout=30)
    verdict = json.loads(result.stdout)
    assert verdict["matched"] is True
    assert verdict["sentiment"]["label"] == "negative"
