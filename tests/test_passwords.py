"""The password rule, hashing, and generated passwords."""

from __future__ import annotations

import pytest

from surveil import accounts
from surveil.passwords import (
    PasswordRejected,
    check_password_rule,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_rule() -> None:
    check_password_rule("reliable-password", "li")  # short names occur in words
    for password, username in (
        ("short", "wang"),
        (" leading-blank-x", "wang"),
        ("my-wang-password", "wang"),
        ("MY-WANG-PASSWORD", "wang"),
        ("x" * 257, "wang"),
    ):
        with pytest.raises(PasswordRejected):
            check_password_rule(password, username)


def test_hash_is_argon2id_and_verifies() -> None:
    digest = hash_password("correct horse battery")
    assert digest.startswith("$argon2id$") and "correct" not in digest
    assert verify_password(digest, "correct horse battery")
    assert not verify_password(digest, "correct horse batterY")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "x")
    assert not needs_rehash(digest)


def test_generated_password_is_drawn_again_until_it_passes_the_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter(["xxchiefxxxxxxxxxxxxx", "clean-random-secret1"])
    monkeypatch.setattr(accounts.secrets, "token_urlsafe", lambda n: next(draws))
    assert accounts.generate_password("chief") == "clean-random-secret1"
