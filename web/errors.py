"""API errors and the middleware that turns every failure into a JSON error body."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from cameras.urls import redact_url
from index.errors import Conflict, InvalidRecord, RecordNotFound
from surveil.access_log import AuditUnavailable
from surveil.serving import (
    ClipUnavailable,
    InvalidSegmentPath,
    NoFootage,
    SegmentDamaged,
    SegmentGone,
    SegmentOpen,
    ServingError,
)
from web.keys import PAGE_CONTEXT_KEY

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})


class BadRequest(ApiError):
    """The request's parameters are invalid; the message says which and why."""

    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The one JSON error shape: {"error": {"code": ..., "message": ...}}."""
    # Messages may quote index or client text; a camera URL must never carry its password out.
    body = {"error": {"code": code, "message": redact_url(message)}}
    return web.json_response(body, status=status, headers=headers)


# What each refusal of surveil.serving is in HTTP; the codes are the errors' own
# (docs/ref/api.md, errors).
_SERVING_STATUS: dict[type[ServingError], int] = {
    SegmentOpen: 409,
    SegmentDamaged: 409,
    SegmentGone: 410,
    NoFootage: 404,
    ClipUnavailable: 409,
    InvalidSegmentPath: 500,
}

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def _error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """JSON under the API; an HTML page (same message) for the pages."""
    if request.path.startswith(API_PREFIX) or PAGE_CONTEXT_KEY not in request.app:
        return error_response(status, code, message, headers)
    context = {
        **request.app[PAGE_CONTEXT_KEY](request),
        "status": status,
        "message": redact_url(message),
    }
    response = aiohttp_jinja2.render_template("error.html", request, context, status=status)
    response.headers.update(headers or {})
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors to HTTP statuses; hide unexpected exceptions behind a generic 500."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _error(request, exc.status, exc.code, exc.message, exc.headers)
    except ServingError as exc:
        return _error(request, _SERVING_STATUS.get(type(exc), 500), exc.code, str(exc))
    except AuditUnavailable as exc:
        # Footage is never served untraced: fail closed, and say so plainly.
        return _error(request, 503, "audit_unavailable", str(exc))
    except RecordNotFound as exc:
        return _error(request, 404, "not_found", str(exc) or "not found")
    except Conflict as exc:
        return _error(request, 409, "conflict", str(exc) or "conflict")
    except InvalidRecord as exc:
        return _error(request, 400, "bad_request", str(exc) or "invalid values")
    except web.HTTPException as exc:
        # Router 404/405 and the like: JSON under the API, aiohttp's own pages elsewhere.
        if exc.status < 400 or not request.path.startswith(API_PREFIX):
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        code = _HTTP_CODES.get(exc.status, "http_error")
        return error_response(exc.status, code, exc.reason, headers)
    except Exception:
        # The exception text may contain a stream URL or SQL parameters: log it, never echo it.
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return _error(request, 500, "internal_error", "internal server error; see the server log")
