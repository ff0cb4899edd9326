"""GET /metrics: the Prometheus scrape, for a loopback peer or an admin or auditor.

A Prometheus server or agent on the same host scrapes without credentials; from
elsewhere a scrape needs the bearer token of an admin or auditor (``authorization:
credentials`` in the scrape config). The guard cannot say "loopback, or these roles"
(ROUTE_ROLES lists roles), so the route is PUBLIC to the guard and decided here, by
:func:`scrape_refusal`, with the project's own authentication (web.auth.authenticate).
Credentials are judged first and alone: a wrong or revoked token, or a staff one, is
refused even from loopback, so a misconfigured scraper is noticed rather than let in.

The peer is the TCP connection's (the transport's peername), not a header: a Unix socket
has none and is remote. Behind a reverse proxy on the same host every request comes from
loopback; such a proxy must not forward /metrics (docs/ref/metrics.md).

Refusals are JSON errors in the API's shape (web.errors.error_response) and are audited
like every denial; successful scrapes are not (one row every 15 s would drown the log).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Final

from aiohttp import hdrs, web
from sqlalchemy.exc import SQLAlchemyError

from surveil.access_log import AuditUnavailable
from web.access import OVERSIGHT, audit
from web.auth import authenticate, unauthorized
from web.errors import ApiError, Forbidden, error_response
from web.keys import METRICS_KEY, PRINCIPAL_KEY
from web.principal import Principal

logger = logging.getLogger(__name__)

# Roles whose credentials may scrape from anywhere.
SCRAPE_ROLES: Final = OVERSIGHT
# Below Prometheus's default scrape_timeout (10 s), so the scraper sees why.
SCRAPE_TIMEOUT_S: Final = 8.0


def peer_host(request: web.Request) -> str | None:
    """The address of the connection's peer; None for a Unix socket or a closed one."""
    transport = request.transport
    if transport is None:
        return None
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return None


def is_loopback(host: str | None) -> bool:
    """Whether host is a loopback address: 127.0.0.0/8, ::1 or ::ffff:127.x.y.z."""
    if not host:
        return False
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped.is_loopback
    return addr.is_loopback


def scrape_refusal(peer: str | None, who: Principal | None) -> ApiError | None:
    """Why this caller may not scrape, or None when it may.

    who: the caller's credentials (a token or a session), None when it sent none. With
    credentials the role decides, wherever the peer is; without, only a loopback peer.
    """
    if who is not None:
        if who.role in SCRAPE_ROLES:
            return None
        return Forbidden(f"metrics need one of the roles {', '.join(sorted(SCRAPE_ROLES))}")
    if is_loopback(peer):
        return None
    return unauthorized(
        "metrics are served without a token only to loopback addresses; send an admin or "
        "auditor API token as 'Authorization: Bearer <token>'",
        invalid=False,
    )


async def metrics(request: web.Request) -> web.StreamResponse:
    """The metrics of docs/ref/metrics.md in the format the scraper asks for."""
    try:
        who = await authenticate(request)
    except ApiError as exc:  # a malformed, unknown or revoked token
        return await _refuse(request, exc)
    except (SQLAlchemyError, OSError) as exc:
        logger.error("metrics: cannot check the credentials: %s", type(exc).__name__)
        return error_response(
            503,
            "index_unavailable",
            "the index cannot be read to check the credentials; scrape from loopback "
            "without a token, or see the server log",
        )
    if who is not None:
        request[PRINCIPAL_KEY] = who
    refusal = scrape_refusal(peer_host(request), who)
    if refusal is not None:
        return await _refuse(request, refusal)
    accept = ",".join(request.headers.getall(hdrs.ACCEPT, []))
    try:
        body, content_type = await request.app[METRICS_KEY].exposition(accept, SCRAPE_TIMEOUT_S)
    except TimeoutError:
        logger.warning("metrics: collection took over %.0f s; a source is stuck", SCRAPE_TIMEOUT_S)
        return error_response(
            503,
            "metrics_timeout",
            f"collecting the metrics took over {SCRAPE_TIMEOUT_S:.0f} s (a volume that does "
            "not answer?); see the server log",
        )
    except Exception:
        logger.exception("metrics: collection failed")
        return error_response(500, "internal_error", "internal server error; see the server log")
    return web.Response(body=body, headers={hdrs.CONTENT_TYPE: content_type})


async def _refuse(request: web.Request, exc: ApiError) -> web.Response:
    """The refusal as a JSON error, audited as the guard audits its denials."""
    try:
        await audit(
            request,
            f"{request.method} {request.path}"[:64],
            "denied",
            target="metrics",
            detail={"status": exc.status, "reason": exc.message},
        )
    except AuditUnavailable as failed:
        return error_response(503, AuditUnavailable.code, str(failed))
    return error_response(exc.status, exc.code, exc.message, exc.headers)
