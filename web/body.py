"""Reading JSON request bodies: size, type, and the text rule; the wire models do the rest.

Every JSON body goes through :func:`json_object`, which applies the index's text rule
(index/text.py: no NUL, no lone surrogate) to every key and string, however deep, so that
the 400 names the JSON path.
"""

from __future__ import annotations

import json

from aiohttp import web

from web.errors import BadRequest
from web.params import check_text

MAX_BODY_BYTES = 64 * 1024


async def json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object, its text checked; which keys it may have is the model's."""
    if request.content_type != "application/json":
        raise BadRequest("the request body must be JSON (Content-Type: application/json)")
    raw = await request.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    _check_strings(body, "")
    return body


def _check_strings(value: object, path: str) -> None:
    """Apply the text rule (index/text.py) to every key and string in the body, naming the
    JSON path of the first offender: name, onvif.host, counters[0]."""
    if isinstance(value, str):
        check_text(value, repr(path))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_strings(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a key in {path!r}" if path else "a key of the request body")
            _check_strings(item, f"{path}.{key}" if path else key)
