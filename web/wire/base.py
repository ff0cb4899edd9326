"""The base of every wire model, and the one way a model becomes a JSON response."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from pydantic import BaseModel, ConfigDict
from pydantic_core import ErrorDetails, PydanticCustomError


class Wire(BaseModel):
    """A request or response shape: unknown keys refused, no type coercion, immutable.

    strict: JSON ``"1"`` is not the integer 1 and ``1`` is not ``true``. Path and query
    parameters, and page forms, are text: they are validated lax (``strict=False``), where
    integer types still take ASCII digits only (web.wire.types).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def reply(
    model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The model as a JSON response; pydantic serializes it (no second dict builder)."""
    return web.Response(
        text=model.model_dump_json(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


# The pydantic error type of a rule no schema can state: such a refusal is a 422, not a
# 400 (web/openapi.py), so a fuzzer can tell "breaks the document" from "breaks a rule".
RULE_ERROR = "invalid_value"


def rule_error(message: str) -> PydanticCustomError:
    """Raise this from a validator for a rule beyond the schema (e.g. end after start)."""
    return PydanticCustomError(RULE_ERROR, message)


# Each pattern of the wire types, and its rule in words (web/wire/types.py registers them).
PATTERN_RULES: dict[str, str] = {}


def pattern(regex: str, rule: str) -> str:
    """regex, remembered with its rule, so a refusal can say the rule instead of the regex."""
    PATTERN_RULES[regex] = rule
    return regex


def explain(error: ErrorDetails) -> str:
    """Why a field was refused, in words; never the input, and never a regex."""
    if error["type"] == "string_pattern_mismatch":
        regex = (error.get("ctx") or {}).get("pattern")
        rule = PATTERN_RULES.get(regex) if isinstance(regex, str) else None
        return f"must be {rule}" if rule else "is not in the allowed form"
    return error["msg"].removeprefix("Value error, ")
