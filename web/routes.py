"""URL table of the application."""

from __future__ import annotations

from aiohttp import web

from web import api


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", api.health, name="health")
    app.router.add_get("/api/v1/openapi.json", api.openapi, name="openapi")
    app.router.add_get("/api/v1/cameras", api.cameras, name="cameras")
    app.router.add_get("/api/v1/recordings", api.recordings, name="recordings")
    app.router.add_get("/api/v1/segments/{id}", api.segment_file, name="segment_file")
