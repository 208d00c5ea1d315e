"""``harken users``: the people who may sign in to the web inbox, and their roles."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import _config, _fail, print_table
from monitor.config.settings import Config
from monitor.errors import HarkenError

if TYPE_CHECKING:
    from monitor.storage import Storage

users_cli = typer.Typer(help="Who may sign in to the web inbox.", no_args_is_help=True)
_ROLES = ("admin", "responder", "viewer")
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="read the password from stdin's first line (for scripts)"
    ),
]


def _storage(config: Config) -> Storage:
    from monitor.storage import Storage

    try:
        return Storage(config.storage_url)
    except HarkenError as error:
        raise _fail(error) from None


def _password(from_stdin: bool) -> str:
    """The new password, never from the command line, where `ps` and shell history see it."""
    from monitor.web.passwords import password_problem

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password)
    if problem is not None:
        print(f"password refused: {problem}", file=sys.stderr)
        raise typer.Exit(2)
    return password


@users_cli.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="the name they sign in with")],
    role: Annotated[str, typer.Option(metavar="admin|responder|viewer", help="what they may do")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user: viewers read, responders also acknowledge and resolve, admins too."""
    from monitor.daemon import wiring
    from monitor.storage import UserExists
    from monitor.web.passwords import hash_password

    if role not in _ROLES:
        print(f"--role: {role!r} is not one of {', '.join(_ROLES)}", file=sys.stderr)
        raise typer.Exit(2)
    name = name.strip()
    if not name or len(name) > 100 or any(not char.isprintable() for char in name):
        print("NAME: give 1 to 100 printable characters", file=sys.stderr)
        raise typer.Exit(2)
    config = _config()
    password = _password(password_stdin)
    storage = _storage(config)
    try:
        storage.add_user(name, role, hash_password(password), wiring.utc_now())
    except UserExists as error:
        print(error, file=sys.stderr)
        raise typer.Exit(1) from None
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    print(f"added {name} ({role})")


@users_cli.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="whose password")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Change a user's password; their open sessions end."""
    from monitor.daemon import wiring
    from monitor.web.passwords import hash_password

    config = _config()
    password = _password(password_stdin)
    storage = _storage(config)
    try:
        changed = storage.set_password(name, hash_password(password), wiring.utc_now())
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if not changed:
        print(f"no user {name!r}; `harken users list` shows them", file=sys.stderr)
        raise typer.Exit(1)
    print(f"changed the password of {name}; their sessions are signed out")


@users_cli.command("list")
def users_list() -> None:
    """Every user: name, role, added, password last changed."""
    config = _config()
    timezone = config.settings.organisation.timezone
    storage = _storage(config)
    try:
        users = storage.users()
    except HarkenError as error:
        raise _fail(error) from None
    finally:
        storage.close()
    if not users:
        print("no users; `harken users add NAME --role admin` adds one")
        return
    from monitor.alerts.history import when

    rows: list[tuple[str, ...]] = [("name", "role", "added", "password changed")]
    rows += [
        (u.name, u.role, when(u.created_at, timezone), when(u.password_changed_at, timezone))
        for u in users
    ]
    print_table(rows)
