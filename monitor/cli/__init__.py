"""The ``harken`` command: the only place an error becomes an exit code and a message.

One module per command group. Each imports the daemon's heavier modules (storage, mail,
scheduler) inside the commands that need them, so `harken triage` starts quickly.
"""

from monitor.cli import (
    alerts,
    digest,
    doctor,
    labels,
    mentions,
    rules,
    run,
    sources,
    triage,
    users,
    web,
)
from monitor.cli.app import cli

# Registered here, not beside their definitions: `harken --help` lists them in this order.
cli.command()(triage.triage)
cli.command()(run.poll)
cli.command()(run.run)
cli.command()(doctor.doctor)
cli.command()(digest.digest)
cli.command()(run.demo)
cli.add_typer(rules.rules_cli, name="rules")
cli.add_typer(sources.sources_cli, name="sources")
cli.add_typer(alerts.alerts_cli, name="alerts")
cli.add_typer(mentions.mentions_cli, name="mentions")
cli.add_typer(labels.labels_cli, name="labels")
cli.add_typer(users.users_cli, name="users")
cli.add_typer(web.web_cli, name="web")


def main() -> None:
    cli()
