"""bench/soak.py in miniature: the real daemon, a few feeds, a few seconds of items and alerts.

It keeps the benchmark working as the daemon changes, and checks what the benchmark exists to
show: every urgent item that appeared was alerted, once.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.harness import REPO


def test_a_short_soak_alerts_every_urgent_item_once_and_stores_every_mention(
    tmp_path: Path,
) -> None:
    small = ["--minutes", "0.2", "--feeds", "5", "--every", "2s", "--rate", "10", "--sample", "2"]
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "soak.py"), *small, "--data", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    alerts = re.search(
        r"alerts: (\d+) urgent items, (\d+) due before the stop, (\d+) alerted", output
    )
    assert alerts is not None, output
    urgent, due, alerted = (int(number) for number in alerts.groups())
    assert due > 0, output
    assert alerted >= due, output
    assert alerted <= urgent, output
    assert "missing 0, alerted twice 0, alerted but not urgent 0" in output
    assert "stored/published 1.000" in output
    assert re.search(r"errors: polls \d+, failed 0 ", output), output
    assert "daemon exit status 0" in output
