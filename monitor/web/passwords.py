"""Password hashes for web users: argon2id, with argon2-cffi's current recommended costs."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10  # characters; long enough that the rate limit, not guessing, is the barrier

_HASHER = PasswordHasher()
# Checked against when the name is unknown, so a refusal takes as long either way and the
# time it takes does not tell which names exist.
_DUMMY = _HASHER.hash("no such user, but take as long as a real check")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``, salt and costs included."""
    return _HASHER.hash(password)


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from; None checks a dummy."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why ``password`` will not do, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if password != password.strip():
        return "a password may not start or end with spaces (they are lost too easily)"
    return None
