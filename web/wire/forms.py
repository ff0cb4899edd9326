"""Page forms through the same wire models as the JSON API.

A form is text: a blank field counts as absent, one-line fields are stripped (passwords
never), repeated fields are lists. The result is validated with the model's own rules
(validated lax: "12" is 12 and "on" is true), so the page and the API
refuse the same things; a refusal names the field and the kind of failure, which the page
translates (web.i18n.form_error_text).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

from multidict import MultiMapping
from pydantic import BaseModel, ValidationError

from web.errors import BadRequest, Unprocessable
from web.wire.base import RULE_ERROR, explain

M = TypeVar("M", bound=BaseModel)

_KEEP_BLANKS = ("password",)  # a password's spaces are part of it


class FormInvalid(Exception):
    """A form field is refused: which field, what kind of failure, and the rule in English."""

    def __init__(self, field: str, kind: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.kind = kind
        self.message = message

    @property
    def refusal(self) -> type[BadRequest] | type[Unprocessable]:
        """What the JSON API answers for the same value: 422 for a rule beyond the schema."""
        return Unprocessable if self.kind == RULE_ERROR else BadRequest

    @property
    def status(self) -> int:
        return self.refusal.status

    @property
    def code(self) -> str:
        return self.refusal.code


def form_data(
    form: MultiMapping[str | object] | Mapping[str, object],
    fields: Collection[str],
    lists: Collection[str] = (),
) -> dict[str, object]:
    """The named fields of a form as a dict for a model: blanks dropped, text stripped."""
    out: dict[str, object] = {}
    getall = getattr(form, "getall", None)
    for key in fields:
        if key in lists:
            raw = list(getall(key, [])) if getall else [form.get(key)]
            values = [v.strip() for v in raw if isinstance(v, str) and v.strip()]
            if values:
                out[key] = values
            continue
        value = form.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        out[key] = value if any(k in key for k in _KEEP_BLANKS) else value.strip()
    return out


def validate_form(model: type[M], data: Mapping[str, object]) -> M:
    """data (from :func:`form_data`) as the model; FormInvalid naming the first field."""
    try:
        return model.model_validate(dict(data), strict=False)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = next((e for e in errors if e["type"] != RULE_ERROR), errors[0])
        loc = ".".join(str(p) for p in first["loc"]) or "form"
        raise FormInvalid(loc, first["type"], explain(first)) from None
