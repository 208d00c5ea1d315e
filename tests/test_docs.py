"""The docs keep up with the code: every config key documented, every source kind described."""

from __future__ import annotations

import re
import tomllib

from pydantic import BaseModel

from monitor.config.settings import Settings
from monitor.source import source_kinds
from tests.harness import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SHIPPED = (REPO / "config.toml").read_text(encoding="utf-8")


def documented_keys() -> set[str]:
    return set(re.findall(r"^\| `([^`]+)`", README, flags=re.M)) | {
        key
        for row in re.findall(r"^\| (`[^|]+`)", README, flags=re.M)
        for key in re.findall(r"`([^`]+)`", row)
    }


def settings_keys(model: type[BaseModel], prefix: str) -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= settings_keys(annotation, key + ".")
        else:
            keys.add(key)
    return keys


def readme_name(key: str) -> str:
    key = re.sub(r"^sources\.[^.]+\.", "sources.NAME.", key)
    key = re.sub(r"^recipients\.[^.]+$", "recipients.GROUP", key)
    return re.sub(r"^brands\.", "brands[].", key)


def test_every_config_key_is_in_the_readme() -> None:
    expected = {readme_name(key) for key in settings_keys(Settings, "")}
    expected -= {"brands", "sources", "recipients"}  # documented through their members
    expected |= {"brands[].name", "brands[].terms", "brands[].exclude", "recipients.GROUP"}
    for kind in source_kinds().values():
        expected |= {f"sources.NAME.{key}" for key in kind.Settings.model_fields}
    missing = sorted(key for key in expected if key not in documented_keys())
    assert not missing, f"README's configuration table lacks {missing}"


def test_every_key_in_the_shipped_config_has_a_comment() -> None:
    uncommented = [
        line
        for line in SHIPPED.splitlines()
        if re.match(r"^\s*[A-Za-z_]+\s*=", line) and "#" not in line
    ]
    assert not uncommented, f"config.toml keys without a comment: {uncommented}"


def test_the_shipped_config_only_uses_documented_keys() -> None:
    def flatten(table: dict[str, object], prefix: str = "") -> set[str]:
        keys = set()
        for key, value in table.items():
            if isinstance(value, dict) and not prefix.startswith("recipients"):
                keys |= flatten(value, f"{prefix}{key}.")
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    keys |= flatten(item, f"{prefix}{key}.")
            else:
                keys.add(readme_name(prefix + key))
        return keys

    shipped = flatten(tomllib.loads(SHIPPED))
    missing = sorted(key for key in shipped if key not in documented_keys())
    assert not missing, f"config.toml uses keys the README does not describe: {missing}"


def test_every_source_kind_has_a_readme_section_and_a_test_module() -> None:
    for kind in source_kinds():
        assert f"### `{kind}`" in README
        assert (REPO / "tests" / f"test_source_{kind}.py").exists()
