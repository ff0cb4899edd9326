"""Headers every response carries, applied as the response is prepared."""

from __future__ import annotations

from aiohttp import hdrs, web

API_PREFIX = "/api/"
PAGE_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)


async def set_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on everything; no caching of API answers."""
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith(API_PREFIX):
        # Footage and camera state are not for shared caches or a kiosk's disk.
        headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
        headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    else:
        # Pages: own resources only, no inline script; inline style attributes draw the
        # timeline. Pages show confidential data: never cached or framed.
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        if not request.path.startswith("/static/"):
            headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
