"""What every command shares, as a newcomer meets it: --config anywhere, help that reads as written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO

COMMANDS = [
    ["triage"],
    ["poll"],
    ["run"],
    ["doctor"],
    ["digest"],
    ["demo"],
    ["rules", "check"],
    ["rules", "test"],
    ["rules", "backtest"],
    ["sources", "list"],
    ["sources", "test"],
    ["alerts", "list"],
    ["alerts", "ack"],
    ["alerts", "resolve"],
    ["alerts", "show"],
    ["web", "token"],
]


def harken(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "HARKEN_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "COLUMNS": "200", "PYTHONPATH": str(REPO)},
        check=False,
    )


@pytest.mark.parametrize("option", ["--config", "-c"])
@pytest.mark.slow
def test_config_is_accepted_after_the_command_name(tmp_path: Path, option: str) -> None:
    result = harken("rules", "check", option, str(REPO / "config.toml"), cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "config config.toml is valid" in result.stdout


@pytest.mark.slow
def test_doctor_takes_config_after_its_name(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    shipped = (REPO / "config.toml").read_text(encoding="utf-8")
    config.write_text(
        shipped.replace('url = "sqlite:///harken.db"', 'url = "sqlite://harken.db"'),
        encoding="utf-8",
    )
    line = shipped[: shipped.index('url = "sqlite:///harken.db"')].count("\n") + 1

    result = harken("doctor", "--config", str(config), cwd=tmp_path)

    assert "No such option" not in result.stderr
    assert result.stdout.startswith(
        f'FAIL  config: {config}:{line}:1: storage.url "sqlite://harken.db" names no database'
    )


@pytest.mark.slow
def test_outside_the_project_folder_the_error_says_how_to_point_at_a_config(
    tmp_path: Path,
) -> None:
    result = harken("sources", "list", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "config.toml: cannot read the config file: No such file or directory",
        "Hint: give the config file with --config FILE or HARKEN_CONFIG=FILE, or run harken in"
        f" the folder that holds config.toml (looked for {tmp_path / 'config.toml'})",
    ]


@pytest.mark.slow
def test_help_reads_as_written(tmp_path: Path) -> None:
    result = harken("digest", "--help", cwd=tmp_path)
    shown = " ".join(result.stdout.split())  # as read, whatever the terminal's width

    assert (
        "which digest: a [[digests]] name (or its groups joined by +) [default: [digest]]" in shown
    )
    assert "--since DURATION" in shown
    assert "-c, --config FILE config file [env HARKEN_CONFIG; default ./config.toml]" in shown


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.slow
def test_no_help_shows_type_names_for_metavars(tmp_path: Path, command: list[str]) -> None:
    result = harken(*command, "--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for type_name in ("<str>", "<bool>", "<int>", "<path>", "<float>"):
        assert type_name not in result.stdout.split("Options:")[1]
