"""Who is making a request: an API token or a signed-in user, with role and counter scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Principal:
    """The authenticated caller.

    counters is the staff scope: None means every counter (admins, auditors, API tokens,
    which belong to integrations such as the acceptance system rather than to a person).
    """

    kind: Literal["user", "token"]
    name: str
    role: str
    counters: frozenset[str] | None = None
    user_id: int | None = None
    session_id: int | None = None
    csrf_token: str | None = None
    permissions: frozenset[str] = frozenset()  # granted beside the role (export.review, ...)

    def may_see_counter(self, code: str) -> bool:
        return self.counters is None or code in self.counters

    def may_see_any(self, codes: tuple[str, ...] | list[str] | frozenset[str]) -> bool:
        """Whether any of codes is in scope (a camera is visible if it covers one counter)."""
        return self.counters is None or any(c in self.counters for c in codes)
