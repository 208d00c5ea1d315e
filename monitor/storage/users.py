"""People who sign in to the web inbox, and the refused sign-ins its rate limit counts.

Storage keeps password hashes as opaque text: hashing and checking are the web's business
(monitor.web.passwords), so this part needs no crypto library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update

from monitor.errors import StorageError
from monitor.storage.base import StorageBase
from monitor.storage.models import SignInFailureRow, UserRow

ROLES = ("admin", "responder", "viewer")


@dataclass(frozen=True)
class User:
    """A web user as stored; ``password_hash`` never leaves the server."""

    id: int
    name: str
    role: str  # admin | responder | viewer
    password_hash: str
    created_at: datetime
    password_changed_at: datetime


class UserExists(StorageError):
    """A user of that name is stored already."""


def _user(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        role=row.role,
        password_hash=row.password_hash,
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


class UserStore(StorageBase):
    """Users (name, role, password hash) and the sign-in failures of the last while."""

    def add_user(self, name: str, role: str, password_hash: str, now: datetime) -> User:
        """Store a new user; UserExists if the name is taken."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        row = UserRow(
            name=name,
            role=role,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
        )
        with self._transaction(f"add user {name}") as session:
            # Asked first because translate_errors turns the unique constraint's IntegrityError
            # into a general StorageError; the constraint still settles a race between two adds.
            if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise UserExists(
                    f"there is a user {name!r} already; `harken users passwd {name}` changes "
                    "its password"
                )
            session.add(row)
            session.flush()
            return _user(row)

    def user(self, name: str) -> User | None:
        """The user of that name, or None."""
        with self._read(f"read user {name}") as session:
            row = session.scalars(select(UserRow).where(UserRow.name == name)).one_or_none()
            return _user(row) if row is not None else None

    def users(self) -> list[User]:
        """Every user, by name."""
        with self._read("read the users") as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def set_password(self, name: str, password_hash: str, now: datetime) -> bool:
        """Replace a user's password hash; False if there is no such user."""
        with self._transaction(f"change the password of {name}") as session:
            changed = session.execute(
                update(UserRow)
                .where(UserRow.name == name)
                .values(password_hash=password_hash, password_changed_at=now),
                execution_options={"synchronize_session": False},
            )
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    def sign_in_failures(self, name: str, address: str, since: datetime) -> int:
        """How many sign-ins as ``name`` from ``address`` were refused since ``since``."""
        statement = select(func.count()).where(
            SignInFailureRow.name == name,
            SignInFailureRow.address == address,
            SignInFailureRow.at >= since,
        )
        with self._read("count refused sign-ins") as session:
            return int(session.scalar(statement) or 0)

    def record_sign_in_failure(
        self, name: str, address: str, now: datetime, forget_before: datetime
    ) -> None:
        """Count one refused sign-in; failures older than ``forget_before`` go, so the table
        holds one window's worth however long Harken runs."""
        with self._transaction("record a refused sign-in") as session:
            session.execute(delete(SignInFailureRow).where(SignInFailureRow.at < forget_before))
            session.add(SignInFailureRow(name=name[:100], address=address[:100], at=now))

    def clear_sign_in_failures(self, name: str, address: str) -> None:
        """Forget the failures of a user who just signed in from ``address``."""
        with self._transaction("clear refused sign-ins") as session:
            session.execute(
                delete(SignInFailureRow).where(
                    SignInFailureRow.name == name, SignInFailureRow.address == address
                )
            )
