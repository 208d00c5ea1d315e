"""bench/soak.py still starts and runs against today's daemon.

The soak is a benchmark: its figures are for a person to read, and this test does not judge
them. It checks only that a tiny run exits 0 and prints its report's sections, so the benchmark
keeps working as the daemon changes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

REPORT_SECTIONS = ("stream: ", "mentions: ", "alerts: ", "errors: ", "log: ")


@pytest.mark.slow
def test_a_tiny_soak_runs_and_prints_its_report(tmp_path: Path) -> None:
    tiny = ["--minutes", "0.05", "--feeds", "3", "--every", "1s", "--rate", "5", "--sample", "1"]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), *tiny, "--data", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    lines = done.stdout.splitlines()
    for section in REPORT_SECTIONS:
        assert any(line.startswith(section) for line in lines), output
