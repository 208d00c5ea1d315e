"""Files people edit, broken every way an editor (or an attacker) can: each one is refused with
``file:line: message`` lines, never a traceback, and quickly."""

from __future__ import annotations

import os
import random
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.config.load import load_config
from monitor.errors import ProblemsError
from monitor.triage.rules.files import load_rules
from monitor.triage.sentiment.lexicon import load_lexicon
from tests.harness import REPO

# Pieces an edit can leave behind; the long ones are what tomllib itself cannot survive.
HOSTILE = [
    b"x = " + b"[" * 3000 + b"1" + b"]" * 3000,
    b"y = " + b"{a = " * 2000 + b"1" + b"}" * 2000,
    b"n = " + b"9" * 5000,
    b"n = -" + b"1_2" * 2000,
    b"s = '" + b"a" * 1_000_000 + b"'",
    b"[rule]",
    b"[[rule]]",
    b'name = "unclosed',
    b"terms = [",
    b"\xff\xfe\x00 not utf-8",
    b"\x00",
    b"\xef\xbb\xbf",
    b'key = "\xe2\x80\xae reversed"',
    b"= 1",
    b"severity = 42",
    b'sentiment_below = "-0.05"',
    b'hours = "25:00-26:00"',
    b'days = "someday"',
    b'every = "-5m"',
    b"min_followers = 1e999",
    b"a.b.c.d.e.f = 1",
    b'[sources.x]\ntype = "twitter"',
]
# "file:line:col: message", or "file: message" for what no line holds (a missing table).
PROBLEM_LINE = re.compile(r"^\S[^:]*\.toml(:\d+(:\d+)?)?: \S")


def mutate(original: bytes, draw: random.Random) -> bytes:
    lines = original.split(b"\n")
    for _ in range(draw.randint(1, 3)):
        at = draw.randrange(len(lines) + 1)
        how = draw.randrange(7)
        if how == 0:
            lines.insert(at, draw.choice(HOSTILE))
        elif how == 1 and lines:
            del lines[min(at, len(lines) - 1)]
        elif how == 2 and lines:
            lines.insert(at, lines[draw.randrange(len(lines))])
        elif how == 3:
            flat = b"\n".join(lines)
            if flat:
                index = draw.randrange(len(flat))
                flat = flat[:index] + bytes([draw.randrange(256)]) + flat[index + 1 :]
            lines = flat.split(b"\n")
        elif how == 4:
            flat = b"\n".join(lines)
            lines = flat[: draw.randrange(len(flat) + 1)].split(b"\n")
        elif how == 5 and lines:
            index = min(at, len(lines) - 1)
            lines[index] = lines[index] + draw.choice(HOSTILE)
        elif how == 6 and len(lines) > 1:
            first, second = draw.sample(range(len(lines)), 2)
            lines[first], lines[second] = lines[second], lines[first]
    return b"\n".join(lines)


def _load_config(folder: Path, content: bytes) -> None:
    path = folder / "config.toml"
    path.write_bytes(content)
    load_config(path)


def _load_rules(folder: Path, content: bytes) -> None:
    rules = folder / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "edited.toml").write_bytes(content)
    load_rules(rules, brands=["Acme"], sources=["hn_acme"], recipient_groups=["oncall"])


def _load_lexicon(folder: Path, content: bytes) -> None:
    path = folder / "lexicon.toml"
    path.write_bytes(content)
    load_lexicon(path)


KINDS: list[tuple[str, Path, Callable[[Path, bytes], None]]] = [
    ("config", REPO / "config.toml", _load_config),
    ("rules", REPO / "rules" / "complaints.toml", _load_rules),
    ("rules", REPO / "rules" / "outages.toml", _load_rules),
    ("lexicon", REPO / "rules" / "sentiment" / "lexicon.toml", _load_lexicon),
]


@pytest.mark.parametrize(("kind", "original", "load"), KINDS, ids=[k[1].name for k in KINDS])
def test_mutated_files_are_refused_with_lines_never_a_traceback(
    tmp_path: Path, kind: str, original: Path, load: Callable[[Path, bytes], None]
) -> None:
    seed = int(os.environ.get("HARKEN_FUZZ_SEED", random.randrange(1 << 32)))
    draw = random.Random(seed)
    shutil.copytree(REPO / "rules", tmp_path / "shipped-rules")
    text = original.read_bytes()
    refused = 0
    for attempt in range(75):
        content = mutate(text, draw)
        # CPU time, not wall time: a loaded machine stretches wall time, never the work done.
        started = time.process_time()
        try:
            load(tmp_path, content)
        except ProblemsError as error:
            refused += 1
            lines = str(error).splitlines()
            assert lines, f"seed {seed}, attempt {attempt}: an error with no message"
            for line in lines:
                if re.fullmatch(r"\d+ problems? found", line):
                    continue
                assert PROBLEM_LINE.match(line), f"seed {seed}, attempt {attempt}: {line[:300]!r}"
        # Anything else escapes and fails the test with its traceback, which is the point.
        took = time.process_time() - started
        assert took < 1.0, f"seed {seed}, attempt {attempt}: {kind} took {took:.2f} s of CPU"
    assert refused > 30, f"seed {seed}: the mutations should break most files"
