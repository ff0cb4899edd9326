"""Errors and the middleware that turns every failure into an error body.

The one table of the API's errors. Domain errors (``index/``, ``surveil/``, ``cameras/``)
carry their stable ``code``; :data:`ERROR_STATUS` says, once, what HTTP status each is.
Errors that exist only at the HTTP edge are :class:`ApiError` subclasses, one per code.
The OpenAPI document lists, per operation, the codes each status carries from here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import ClassVar

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from cameras.credentials import CredentialError
from cameras.onvif import OnvifAuthError, OnvifNotSupported
from cameras.source import CameraError, CameraTimeout
from cameras.urls import redact_url
from index.errors import Conflict, InvalidRecord, RecordNotFound
from index.merkle import LogCorrupt
from surveil.access_log import AuditUnavailable
from surveil.exports import ExportForbidden
from surveil.passwords import PasswordRejected
from surveil.serving import (
    ClipUnavailable,
    InvalidSegmentPath,
    NoFootage,
    SegmentDamaged,
    SegmentGone,
    SegmentOpen,
)
from web.i18n import error_text, request_lang
from web.keys import PAGE_CONTEXT_KEY

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


class ApiError(Exception):
    """An error of the HTTP edge: each subclass is one stable code with its status."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    """The request breaks the API document; the message names the parameter and why."""

    status = 400
    code = "bad_request"


class Unprocessable(ApiError):
    """The request keeps the document but breaks a rule no schema can state (time order)."""

    status = 422
    code = "invalid_value"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class CsrfRefused(ApiError):
    """A signed-in browser's change without the session's CSRF token."""

    status = 403
    code = "csrf"


class NoAccessPolicy(ApiError):
    """A route without an entry in ROUTE_ROLES: a defect, refused closed."""

    status = 500
    code = "internal_error"


class IndexUnavailable(ApiError):
    status = 503
    code = "index_unavailable"


class CamerasUnavailable(ApiError):
    status = 503
    code = "cameras_unavailable"


class IntegrityUnavailable(ApiError):
    status = 503
    code = "integrity_unavailable"


class LifecycleUnavailable(ApiError):
    """The process runs without the storage lifecycle (volumes, retention, holds)."""

    status = 503
    code = "lifecycle_unavailable"


class DiscoveryFailed(ApiError):
    status = 502
    code = "discovery_failed"


class PreconditionFailed(ApiError):
    status = 412
    code = "precondition_failed"


class RangeNotSatisfiable(ApiError):
    status = 416
    code = "range_not_satisfiable"


# The HTTP status of each domain error, resolved along the exception's MRO (the first
# class listed wins), so a subclass maps with its family unless it is listed itself.
ERROR_STATUS: dict[type[Exception], int] = {
    RecordNotFound: 404,
    ExportForbidden: 403,  # a step the service refuses this caller (surveil/exports.py)
    NoFootage: 404,
    Conflict: 409,
    CredentialError: 409,
    SegmentOpen: 409,
    SegmentDamaged: 409,
    ClipUnavailable: 409,
    SegmentGone: 410,
    InvalidRecord: 422,
    PasswordRejected: 422,
    OnvifAuthError: 422,
    OnvifNotSupported: 422,
    InvalidSegmentPath: 500,
    CameraError: 502,
    CameraTimeout: 504,
    AuditUnavailable: 503,
    LogCorrupt: 500,  # the stored tree lacks a hash: verify says where
}

# Router refusals (aiohttp's HTTPException) under the API.
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def status_of(kind: type[BaseException]) -> int | None:
    """The HTTP status of an error class, or None if it is not an error of the API."""
    if issubclass(kind, ApiError):
        return kind.status
    for cls in kind.__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return None


def code_of(kind: type[BaseException]) -> str:
    """The stable code of an error class (its own attribute)."""
    code = getattr(kind, "code", None)
    return code if isinstance(code, str) else "internal_error"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The one JSON error shape: {"error": {"code": ..., "message": ...}}."""
    # Messages may quote index or client text; a camera URL must never carry its password out.
    body = {"error": {"code": code, "message": redact_url(message)}}
    return web.json_response(body, status=status, headers=headers)


def _error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """JSON under the API; for the pages, an HTML page in the page's language, by code
    (a Chinese page never shows the server's English message)."""
    if request.path.startswith(API_PREFIX) or PAGE_CONTEXT_KEY not in request.app:
        return error_response(status, code, message, headers)
    lang = request_lang(request)
    context = {
        **request.app[PAGE_CONTEXT_KEY](request),
        "status": status,
        "code": code,
        "message": error_text(lang, code, status, redact_url(message)),
    }
    response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    response.headers.update(headers or {})
    return response


def _options(request: web.Request, exc: web.HTTPException) -> web.Response | None:
    """OPTIONS on a path the router knows: 204 with the methods its routes allow."""
    if request.method != "OPTIONS" or exc.status != 405:
        return None
    allowed = {m.strip() for m in exc.headers.get("Allow", "").split(",") if m.strip()}
    allowed |= {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set())
    return web.Response(status=204, headers={"Allow": ", ".join(sorted(allowed))})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map errors to HTTP statuses once; hide unexpected exceptions behind a generic 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(request, exc.status, exc.code, exc.message, exc.headers)
    except web.HTTPException as exc:
        answer = _options(request, exc)
        if answer is not None:
            return answer
        # Router 404/405 and the like: JSON under the API, aiohttp's own pages elsewhere.
        if exc.status < 400 or not request.path.startswith(API_PREFIX):
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason, headers)
    except Exception as exc:
        status = status_of(type(exc))
        if status is not None and (status < 500 or status in (502, 503, 504)):
            return _error(request, status, code_of(type(exc)), str(exc) or code_of(type(exc)))
        # The exception text may contain a stream URL or SQL parameters: log it, never echo it.
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _error(request, 500, "internal_error", "internal server error; see the server log")
