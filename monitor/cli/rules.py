"""``harken rules``: check the rule files, try them on one post, replay stored mentions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import _config, _fail, _open, state
from monitor.config.load import config_path, load_config
from monitor.daemon import wiring
from monitor.duration import parse_duration, plural
from monitor.errors import ConfigError, HarkenError, ProblemsError
from monitor.triage.sentiment.lexicon import load_lexicon

rules_cli = typer.Typer(help="Check and try out the rule files.", no_args_is_help=True)


@rules_cli.command("check")
def rules_check(
    path: Annotated[
        Path | None, typer.Argument(help="rule file or folder [default: the config's rules path]")
    ] = None,
) -> None:
    """Validate the rule files and the config; print every problem as file:line: message."""
    try:
        config = load_config(config_path(state.config_file))
    except ConfigError as error:
        for problem in error.problems:
            print(str(problem))
        raise typer.Exit(1) from None
    try:
        rules = wiring.load_config_rules(config, path)
        load_lexicon(config.lexicon_path)
    except ProblemsError as error:
        for problem in error.problems:
            print(str(problem))
        count = len(error.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)
        raise typer.Exit(1) from None
    print(
        f"ok: {plural(len(rules.rules), 'rule')} in {plural(len(rules.files), 'file')}; config {config.path.name} is valid"
    )


@rules_cli.command("test")
def rules_test(
    text: Annotated[str, typer.Argument(help="the post to try, in quotes")],
    title: Annotated[str, typer.Option(metavar="TEXT", help="a title or headline")] = "",
    source: Annotated[
        str, typer.Option(metavar="NAME", help="as if it came from this source")
    ] = "test",
    lang: Annotated[str, typer.Option(metavar="CODE", help="its language, e.g. en")] = "",
    followers: Annotated[
        float | None, typer.Option(metavar="N", help="its author's followers")
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="rule file or folder [default: the config's]"),
    ] = None,
) -> None:
    """Show how Harken would triage one post: brands, sentiment, which rules fire and why."""
    from monitor.mention import Mention

    config = _config()
    try:
        engine = wiring.build_triage(config, wiring.load_config_rules(config, rules))
    except HarkenError as error:
        raise _fail(error) from None
    metrics = {"followers": followers} if followers is not None else {}
    verdict = engine(
        Mention(source=source, id="test", text=text, title=title, lang=lang, metrics=metrics)
    )
    print(f"severity: {verdict.severity.value}")
    print(f"brands:   {', '.join(verdict.brands) or '(none)'}")
    print(f"feeling:  {verdict.sentiment.label} ({verdict.sentiment.compound:+.2f})")
    print(f"rules:    {', '.join(verdict.rules) or '(none fired)'}")
    if verdict.tags:
        print(f"tags:     {', '.join(verdict.tags)}")
    if verdict.notify:
        print(f"alerts:   {', '.join(verdict.notify)}")
    print("why:")
    for reason in verdict.reasons:
        print(f"  - {reason}")


@rules_cli.command("backtest")
def rules_backtest(
    since: Annotated[
        str, typer.Option(metavar="DURATION", help="replay mentions stored in the last 7d, 24h …")
    ] = "7d",
    rules: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="the new rule file or folder [default: the config's]"),
    ] = None,
    show: Annotated[int, typer.Option(metavar="N", help="examples listed per change")] = 10,
) -> None:
    """Replay stored mentions through a rule set and print what would change."""
    from rich.progress import Progress

    from monitor.triage.backtest import backtest

    config = _config()
    try:
        period = parse_duration(since)
        engine = wiring.build_triage(config, wiring.load_config_rules(config, rules))
    except ValueError as error:
        print(str(error), file=sys.stderr)
        raise typer.Exit(2) from None
    except HarkenError as error:
        raise _fail(error) from None
    harken = _open(config)
    try:
        end = harken.now()
        stored = [entry.verdict for entry in harken.storage.verdicts_between(end - period, end)]
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        harken.close()
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("replaying", total=len(stored))
        result = backtest(stored, engine, lambda: progress.advance(task))
    print(
        f"replayed {plural(result.replayed, 'mention')} stored in the last {since}; {result.severity_changed} would change severity"
    )
    for heading, verdicts in (
        ("newly urgent", result.newly_urgent),
        ("no longer urgent", result.no_longer_urgent),
    ):
        print(f"\n{heading}: {len(verdicts)}")
        for verdict in verdicts[:show]:
            headline = " ".join((verdict.mention.title or verdict.mention.text).split())[:90]
            print(f"  {verdict.mention.source}: {headline}")
            print(
                f"    now: {verdict.severity.value}; rules: {', '.join(verdict.rules) or '(none)'}"
            )
    names = sorted(set(result.fired_before) | set(result.fired_after))
    print("\nfirings per rule (before -> after):")
    for name in names:
        before, after = result.fired_before[name], result.fired_after[name]
        change = f"  ({after - before:+d})" if after != before else ""
        print(f"  {name}: {before} -> {after}{change}")
