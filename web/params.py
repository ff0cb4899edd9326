"""The middleware that applies the index's text rule (:func:`index.text.text_problem`:
no NUL, no lone surrogate) to the path, the query string and form bodies before any handler
runs; JSON bodies get the same rule in web/body.py. The index applies the rule again to what
it stores; here it only makes the 400 name the field.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler

from index.text import text_problem
from web.errors import BadRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


# -- the text rule of every request -------------------------------------------------------


def check_text(value: str, what: str) -> None:
    """BadRequest naming `what` (never quoting the value) if value breaks the index's text
    rule for any string (index.text.text_problem); one-line fields are checked by the index."""
    problem = text_problem(value)
    if problem is not None:
        raise BadRequest(f"{what} {problem}")


def _check_pairs(pairs: Iterable[tuple[str, object]], kind: str) -> None:
    for key, value in pairs:
        check_text(key, f"a {kind} name")
        if isinstance(value, str):
            check_text(value, f"{kind} {key!r}")


@web.middleware
async def text_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse NUL and lone surrogates in the path, the query string and form fields (400
    naming where), before authentication: a denial's audit row records the path, and the
    guard reads the form for its CSRF field."""
    check_text(request.path, "the path")
    _check_pairs(request.query.items(), "query parameter")
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.content_type in FORM_TYPES:
        try:
            form = await request.post()  # cached on the request: handlers read it again
        except (UnicodeDecodeError, LookupError):
            raise BadRequest(
                "the form body is not text in its declared charset (UTF-8 if none)"
            ) from None
        except (ValueError, AssertionError) as exc:
            # aiohttp's multipart reader: no boundary, a malformed part ('boundary missed').
            raise BadRequest(f"the form body is malformed: {type(exc).__name__}") from None
        _check_pairs(form.items(), "form field")
    return await handler(request)
