"""Wire shapes of accounts, API tokens and the audit log: the API and the admin pages.

No shape here carries a password hash; a token's secret is only in :class:`NewToken`, the
answer to its creation. The account rules themselves (the password rule beyond its length,
the last active admin) stay in surveil.accounts, which every entry point calls.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from index.records import (
    AUDIT_ACTOR_KINDS,
    AUDIT_OUTCOMES,
    PERMISSIONS,
    AuditRecord,
    TokenRecord,
    UserRecord,
)
from surveil.accounts import TOKEN_NAME_MAX, AccountChange, AuditFilter
from surveil.timefmt import iso_from_us
from web.wire.base import Wire, rule_error
from web.wire.types import (
    NOT_NULL,
    ONE_LINE,
    CounterCode,
    Digits,
    IsoTime,
    NewPassword,
    RecordId,
    RequiredLine200,
    Role,
    Time,
    UserName,
)

MAX_COUNTERS = 256
AUDIT_LIMIT_DEFAULT = 100
AUDIT_LIMIT_MAX = 500

Outcome = Literal[AUDIT_OUTCOMES]  # type: ignore[valid-type]
Permission = Literal[PERMISSIONS]  # type: ignore[valid-type]
ActorKind = Literal[AUDIT_ACTOR_KINDS]  # type: ignore[valid-type]

Counters = Annotated[
    list[CounterCode],
    Field(
        max_length=MAX_COUNTERS,
        description="Counter codes a staff account works at (ignored for other roles).",
    ),
]
Permissions = Annotated[
    list[Permission],
    Field(
        max_length=len(PERMISSIONS),
        description="Granted beside the role: export.review (review export requests), "
        "export.approve (approve or reject them). Not for auditors (422).",
    ),
]
TokenName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TOKEN_NAME_MAX,
        pattern=ONE_LINE,
        description=f"What uses the token: one line of 1-{TOKEN_NAME_MAX} characters; "
        "blanks around it are removed",
    ),
]


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_from_us(us)


# -- input -------------------------------------------------------------------------------


class UserCreate(Wire):
    """A new account. The password's length and blank ends are in the schema (400); not
    containing the user name is checked by the service: 422 password_rejected."""

    username: UserName
    password: NewPassword
    role: Role
    counters: Counters = Field(default_factory=list)
    permissions: Permissions = Field(default_factory=list)


def _patch_schema(schema: dict[str, Any]) -> None:
    """At least one key."""
    schema["minProperties"] = 1


class UserPatch(Wire):
    """Only the keys given change. Disabling or a new password ends every session of the
    account; the last active admin cannot be demoted or disabled, nor can callers disable
    their own account (409)."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)

    # Absent means "leave it"; an explicit null is refused (web.wire.types.NOT_NULL).
    role: Annotated[Role | None, *NOT_NULL] = None
    counters: Annotated[Counters | None, *NOT_NULL] = None
    disabled: Annotated[bool | None, *NOT_NULL] = None
    password: Annotated[NewPassword | None, *NOT_NULL] = None
    permissions: Annotated[Permissions | None, *NOT_NULL] = None

    @model_validator(mode="before")
    @classmethod
    def _something(cls, data: object) -> object:
        if isinstance(data, dict) and not data:
            fields = ", ".join(cls.model_fields)
            raise ValueError(f"nothing to change: give at least one of {fields}")
        return data

    def change(self) -> AccountChange:
        """The change for surveil.accounts.change_account."""
        return AccountChange(
            role=self.role,
            counters=None if self.counters is None else tuple(self.counters),
            disabled=self.disabled,
            password=self.password,
            permissions=None if self.permissions is None else tuple(self.permissions),
        )


class UserPath(Wire):
    username: UserName


class TokenCreate(Wire):
    """A new API token; its secret is in the answer only."""

    name: TokenName
    role: Role


class TokenPath(Wire):
    id: RecordId


# Field before Digits: after a BeforeValidator pydantic writes ge/le, not minimum/maximum.
AuditLimit = Annotated[int, Field(ge=1, le=AUDIT_LIMIT_MAX), Digits]


class AuditQuery(Wire):
    """Which audit rows to read: all filters optional; pages go to older rows."""

    start: Time | None = Field(None, description="Entries at or after this time.")
    end: Time | None = Field(None, description="Entries before this time.")
    actor: RequiredLine200 | None = Field(None, description="Exactly this actor.")
    action: RequiredLine200 | None = Field(None, description="Actions starting with this.")
    outcome: Outcome | None = Field(None, description="Only entries with this outcome.")
    before: RecordId | None = Field(
        None, description="Only entries with a smaller id: next_before of the previous page."
    )
    limit: AuditLimit = Field(AUDIT_LIMIT_DEFAULT, description="Entries per page.")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise rule_error("'end' must be later than 'start'")
        return self

    def filter(self) -> AuditFilter:
        """The filter for surveil.accounts.read_audit (the limit goes beside it)."""
        return AuditFilter(
            start_us=self.start,
            end_us=self.end,
            actor=self.actor,
            action=self.action,
            outcome=self.outcome,
            before_id=self.before,
        )


# -- output ------------------------------------------------------------------------------


class User(Wire):
    """An account; never its password or hash."""

    username: str
    role: Role
    counters: list[str]
    permissions: list[Permission] = Field(description="Granted beside the role.")
    active: bool = Field(description="false once disabled.")
    created: IsoTime
    created_us: int
    disabled: IsoTime | None
    disabled_us: int | None
    last_login: IsoTime | None
    last_login_us: int | None

    @classmethod
    def of(cls, u: UserRecord) -> Self:
        return cls(
            username=u.username,
            role=u.role,
            counters=list(u.counters),
            permissions=list(u.permissions),
            active=u.disabled_us is None,
            created=iso_from_us(u.created_us),
            created_us=u.created_us,
            disabled=_iso(u.disabled_us),
            disabled_us=u.disabled_us,
            last_login=_iso(u.last_login_us),
            last_login_us=u.last_login_us,
        )


class UserList(Wire):
    """Every account, by name."""

    users: list[User]


class Token(Wire):
    """An API token's metadata; never its secret or hash."""

    id: int
    name: str
    role: Role
    active: bool = Field(description="false once revoked.")
    created: IsoTime
    created_us: int
    last_used: IsoTime | None
    last_used_us: int | None
    revoked: IsoTime | None
    revoked_us: int | None

    @classmethod
    def fields_of(cls, t: TokenRecord) -> dict[str, Any]:
        return {
            "id": t.id,
            "name": t.name,
            "role": t.role,
            "active": t.revoked_us is None,
            "created": iso_from_us(t.created_us),
            "created_us": t.created_us,
            "last_used": _iso(t.last_used_us),
            "last_used_us": t.last_used_us,
            "revoked": _iso(t.revoked_us),
            "revoked_us": t.revoked_us,
        }

    @classmethod
    def of(cls, t: TokenRecord) -> Self:
        return cls(**cls.fields_of(t))


class NewToken(Token):
    """A token just created, with its secret."""

    token: str = Field(
        description="The bearer token. Shown only in this response; the index keeps only "
        "its SHA-256."
    )

    @classmethod
    def of_new(cls, t: TokenRecord, secret: str) -> Self:
        return cls(**cls.fields_of(t), token=secret)


class TokenList(Wire):
    """Every token, revoked ones included, oldest first."""

    tokens: list[Token]


class AuditEntry(Wire):
    """One row of the append-only audit log."""

    id: int
    at: IsoTime
    at_us: int
    actor: str = Field(description="User or token name; '-' if none.")
    actor_kind: ActorKind
    remote: str | None
    action: str = Field(
        description="e.g. login, user.create, token.revoke, receipt.start, or 'METHOD path' "
        "for a refused request."
    )
    target: str | None
    outcome: Outcome
    detail: dict[str, Any] = Field(description="Never holds a secret.")
    leaf_index: int | None = Field(
        description="Its entry in the integrity log (GET /api/v1/integrity/proof/inclusion)."
    )

    @classmethod
    def of(cls, a: AuditRecord) -> Self:
        return cls(
            id=a.id,
            at=iso_from_us(a.at_us),
            at_us=a.at_us,
            actor=a.actor,
            actor_kind=a.actor_kind,
            remote=a.remote,
            action=a.action,
            target=a.target,
            outcome=a.outcome,
            detail=a.detail,
            leaf_index=a.leaf_index,
        )


class AuditPage(Wire):
    """One page of audit rows, newest first."""

    entries: list[AuditEntry]
    next_before: int | None = Field(
        description="Pass as 'before' for the next (older) page; null at the end."
    )
    next: str | None = Field(description="The next page's path and query; null at the end.")
