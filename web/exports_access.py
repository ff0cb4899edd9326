"""The caller of an export step, as the export service sees them.

The API and the pages both take export steps on behalf of the signed-in person or the API
token; the service (surveil/exports.py) decides who may do what from an ExportActor, so
this is the one place that builds it from the request's Principal.
"""

from __future__ import annotations

from aiohttp import web

from surveil.exports import ExportActor
from web.access import principal


def actor(request: web.Request) -> ExportActor:
    """The request's caller: name, kind, role, counter scope, granted permissions and the
    client address (recorded in each step's audit row)."""
    who = principal(request)
    return ExportActor(
        name=who.name,
        kind=who.kind,
        role=who.role,
        counters=who.counters,
        permissions=who.permissions,
        remote=request.remote,
    )
