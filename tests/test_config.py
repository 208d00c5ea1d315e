"""config.toml as people write it: the shipped file loads, and every mistake is named by line."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.load import config_path, load_config
from monitor.config.settings import Config
from monitor.errors import ConfigError
from monitor.source import source_kinds

SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"

MINIMAL = """
[[brands]]
name = "Acme"
terms = ["Acme"]

[recipients]
oncall = ["oncall@example.com"]
marketing = ["marketing@example.com"]
"""


KINDS = ", ".join(sorted(source_kinds()))


def write(directory: Path, text: str, name: str = "config.toml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    """What a person sees when ``path`` fails to load, one line per problem."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return [str(problem) for problem in caught.value.problems]


def test_the_shipped_config_loads() -> None:
    config = load_config(SHIPPED)

    settings = config.settings
    assert settings.organisation.timezone == "Europe/London"
    assert [brand.name for brand in settings.brands] == ["Acme"]
    assert {"hn_acme", "google_news_acme"} <= set(config.sources)
    assert config.sources["hn_acme"].every == timedelta(minutes=5)
    assert settings.http.timeout == timedelta(seconds=20)
    assert settings.email.sender == "Harken <harken@example.com>"
    assert config.storage_url == f"sqlite:///{SHIPPED.parent / 'harken.db'}"
    assert config.rules_path == SHIPPED.parent / "rules"
    assert config.addresses(settings.alerts.notify) == ["oncall@example.com"]


def test_every_mistake_is_reported_at_its_line_all_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # Acme's config, with a few slips
        [organisation]
        name = "Acme Inc."
        timezone = "Europe/Londn"

        [[brands]]
        name = "Acme"
        terms = ["Acme"]

        [sources.hn_acme]
        type = "rss"
        url = "hnrss.org/newest?q=Acme"
        every = "5 minutes"

        [sources.friendster]
        type = "friendster"

        [recipients]
        oncall = ["oncall@example.com"]

        [email]
          hots = "smtp.example.com"

        [http]
        timeout = "20 seconds"
        """,
    )

    assert problems(path) == [
        f'{path}:4:1: organisation.timezone: unknown timezone "Europe/Londn"; use an IANA name such as "Europe/London" or "UTC"',
        f'{path}:12:1: sources.hn_acme.url: "hnrss.org/newest?q=Acme" is not an http(s) URL',
        f'{path}:13:1: sources.hn_acme.every: "5 minutes" is not a duration; write a number and a unit, e.g. "90s", "5m", "2h", "7d"',
        f'{path}:16:1: sources.friendster: unknown type "friendster"; installed kinds: {KINDS}',
        f'{path}:22:3: unknown key "email.hots" (did you mean "host"?)',
        f'{path}:25:1: http.timeout: "20 seconds" is not a duration; write a number and a unit, e.g. "90s", "5m", "2h", "7d"',
    ]


def test_a_misspelt_key_in_a_brand_or_source_gets_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[brands]]
        name = "Acme"
        terms = ["Acme"]
        exlcude = ["Acme Hardware"]

        [sources.news]
        type = "rss"
        url = "https://news.example/feed"
        max_item = 10

        [emial]
        host = "smtp.example.com"
        """,
    )

    assert problems(path) == [
        f'{path}:4:1: unknown key "brands.0.exlcude" (did you mean "exclude"?)',
        f'{path}:9:1: unknown key "sources.news.max_item" (did you mean "max_items"?)',
        f'{path}:11:1: unknown key "emial" (did you mean "email"?)',
    ]


def test_a_toml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[brands]]
        name = "Acme"
        terms = ["Acme"]

        [sources.hn]
        type = "rss"
        every = 5m
        """,
    )

    assert problems(path) == [
        f"{path}:7:10: TOML syntax: Expected newline or end of document after a statement"
    ]


def test_an_unclosed_array_points_at_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[brands]]\nname = "Acme"\nterms = ["Acme",\n  "Acme Cloud"\n', "utf-8")

    assert problems(path) == [f"{path}:4:1: TOML syntax: Unclosed array at end of file"]


def test_a_source_without_a_type_lists_the_installed_kinds(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[sources.news]\nurl = "https://news.example/feed"\n')

    assert problems(path) == [
        f'{path}:9:1: missing required key "sources.news.type"; installed kinds: {KINDS}'
    ]


def test_a_disabled_source_is_still_checked(tmp_path: Path) -> None:
    disabled = """
    [sources.paused]
    type = "rss"
    enabled = false
    url = "https://paused.example/feed"
    """
    good = write(tmp_path, MINIMAL + textwrap.dedent(disabled))
    bad = write(tmp_path, MINIMAL + textwrap.dedent(disabled) + 'every = "often"\n', "bad.toml")

    assert load_config(good).sources["paused"].enabled is False
    assert problems(bad) == [
        f'{bad}:13:1: sources.paused.every: "often" is not a duration; write a number and a unit, e.g. "90s", "5m", "2h", "7d"'
    ]


def test_alerts_and_digest_must_name_defined_recipient_groups(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '\n[alerts]\nnotify = ["oncall", "pagers"]\n')

    assert problems(path) == [
        f'{path}:10:1: alerts.notify: unknown recipient group "pagers"; define it under [recipients]'
    ]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[organisation]\ntimezone = 5", "organisation.timezone: Input should be a valid string"),
        ("[http]\ntimeout = 0", "http.timeout: must be longer than zero"),
        ("[http]\ntimeout = -5", "http.timeout: must be longer than zero"),
        ('[http]\ntimeout = "0s"', 'http.timeout: "0s" must be longer than zero'),
        (
            '[http]\ntimeout = "99999999999999999d"',
            'http.timeout: "99999999999999999d" is longer than Harken can count',
        ),
        ("[http]\nmax_bytes = 0", "http.max_bytes: Input should be greater than 0"),
        ('[digest]\nschedule = "daily"', 'digest.schedule: "daily" is not a cron schedule'),
        (
            '[email]\nsecurity = "tls"',
            "email.security: Input should be 'none', 'starttls' or 'ssl'",
        ),
    ],
)
def test_bad_values_are_reported_not_crashed_on(
    tmp_path: Path, section: str, expected: str
) -> None:
    path = write(tmp_path, section + "\n" + MINIMAL)

    (problem,) = problems(path)

    assert problem.startswith(f"{path}:2:1: {expected}")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    (problem,) = problems(path)

    assert problem.startswith(f"{path}: cannot read the config file: No such file or directory")
    assert "Hint: give the config file with --config FILE or HARKEN_CONFIG=FILE" in problem


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(
        MINIMAL.lstrip().encode() + '\n[organisation]\nname = "Café"\n'.encode("latin-1")
    )

    assert problems(path) == [f"{path}:10: the file is not UTF-8 text; save it as UTF-8"]


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())

    assert load_config(path).settings.brands[0].name == "Acme"


def test_config_path_prefers_the_command_line_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARKEN_CONFIG", "/etc/harken/from-env.toml")

    assert config_path("/srv/explicit.toml") == Path("/srv/explicit.toml")
    assert config_path(None) == Path("/etc/harken/from-env.toml")

    monkeypatch.delenv("HARKEN_CONFIG")

    assert config_path(None) == Path("config.toml")


def test_a_relative_sqlite_url_lives_next_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "etc", MINIMAL + '\n[storage]\nurl = "sqlite:///data/harken.db"\n')
    monkeypatch.chdir(tmp_path)  # loaded by a relative path, from elsewhere

    config = load_config(Path("etc/config.toml"))

    assert config.storage_url == f"sqlite:///{tmp_path / 'etc' / 'data' / 'harken.db'}"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/harken/harken.db",
        "sqlite:///:memory:",
        "postgresql+psycopg://harken@db.example/harken",
    ],
)
def test_other_database_urls_are_left_alone(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, MINIMAL + f'\n[storage]\nurl = "{url}"\n')

    assert load_config(path).storage_url == url


def test_addresses_lists_each_address_once_in_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[brands]]
        name = "Acme"
        terms = ["Acme"]

        [recipients]
        oncall = ["ops@example.com", "cto@example.com"]
        marketing = ["cmo@example.com", "cto@example.com", "ops@example.com"]
        """,
    )
    config: Config = load_config(path)

    assert config.addresses(["oncall", "marketing"]) == [
        "ops@example.com",
        "cto@example.com",
        "cmo@example.com",
    ]
    assert config.addresses(("marketing",)) == [
        "cmo@example.com",
        "cto@example.com",
        "ops@example.com",
    ]
    assert config.addresses([]) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "sqlite://harken.db",
            'storage.url "sqlite://harken.db" names no database file; write "sqlite:///harken.db"'
            " (three slashes) for a file beside config.toml",
        ),
        (
            "postgres://harken:s3cret@db/harken",
            'storage.url "postgres://harken:***@db/harken": the scheme is "postgresql", not'
            ' "postgres"; write "postgresql+psycopg://harken:***@db/harken"',
        ),
        (
            "postgresql+psycopg2://harken@db/harken",
            'Harken talks to PostgreSQL through psycopg (version 3), not the "psycopg2" driver',
        ),
        ("mysql://db/harken", 'Harken stores in SQLite or PostgreSQL, not "mysql"'),
        ("harken.db", 'storage.url "harken.db" is not a database URL; write "sqlite:///harken.db"'),
    ],
)
def test_a_mistyped_storage_url_is_named_with_its_fix(
    tmp_path: Path, url: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL + f'\n[storage]\nurl = "{url}"\n')

    (problem,) = problems(path)

    assert problem.startswith(f"{path}:10:1: storage.url")
    assert expected in problem
    assert "s3cret" not in problem


@pytest.mark.parametrize(
    "url", ["sqlite:///harken.db", "sqlite:////var/lib/harken.db", "postgresql://h/db"]
)
def test_storage_urls_people_mean_load(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, MINIMAL + f'\n[storage]\nurl = "{url}"\n')

    assert load_config(path).settings.storage.url == url
