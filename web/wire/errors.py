"""The one error body of the API."""

from __future__ import annotations

from pydantic import Field

from web.wire.base import Wire


class ErrorDetail(Wire):
    code: str = Field(description="Stable machine-readable code; see docs/ref/api.md, errors.")
    message: str = Field(description="For people; never carries a password.")


class Error(Wire):
    """An error: its code and a message for people."""

    error: ErrorDetail
