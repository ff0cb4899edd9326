"""Account passwords: argon2id hashing (argon2-cffi) and the password rule.

Hashing is deliberately slow and memory-hard; callers on the event loop run it in a thread.
"""

from __future__ import annotations

from typing import ClassVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

PASSWORD_MIN = 10
PASSWORD_MAX = 256
USERNAME_CHECK_MIN = 4

# RFC 9106's second recommended option (64 MiB, t=3, p=4) as argon2-cffi ships it.
_HASHER = PasswordHasher()
# Checked against when the account does not exist, so a login for an unknown name costs
# the same as one for a known name and does not reveal which names exist.
_DUMMY_HASH = _HASHER.hash("surveil: no such account")


class PasswordRejected(ValueError):
    """The new password breaks the password rule; the message says how."""

    code: ClassVar[str] = "password_rejected"


def check_password_rule(password: str, username: str) -> None:
    """Raise PasswordRejected unless the password is acceptable for this account."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise PasswordRejected(
            f"the password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters long"
        )
    if password.strip() != password:
        raise PasswordRejected("the password must not start or end with white space")
    # Short names (li, wang) occur inside ordinary words; only longer ones are checked.
    if len(username) >= USERNAME_CHECK_MIN and username.lower() in password.lower():
        raise PasswordRejected("the password must not contain the user name")


def hash_password(password: str) -> str:
    """The argon2id PHC string for password."""
    return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether password matches stored_hash; None (no such account) costs the same and fails."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    return _HASHER.check_needs_rehash(stored_hash)
