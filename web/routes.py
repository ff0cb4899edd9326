"""URL table of the application."""

from __future__ import annotations

from aiohttp import web

from web import api, clips_api, lookup_api, receipts_api


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", api.health, name="health")
    app.router.add_get("/api/v1/openapi.json", api.openapi, name="openapi")
    app.router.add_get("/api/v1/cameras", api.cameras, name="cameras")
    app.router.add_get("/api/v1/recordings", api.recordings, name="recordings")
    app.router.add_get("/api/v1/segments/{id}", api.segment_file, name="segment_file")
    app.router.add_get("/api/v1/lookup", lookup_api.lookup, name="lookup")
    app.router.add_get("/api/v1/clips/{camera}.mp4", clips_api.clip, name="clip")
    app.router.add_get("/api/v1/counters", receipts_api.list_counters, name="counters")
    app.router.add_post("/api/v1/counters", receipts_api.create_counter, name="create_counter")
    app.router.add_get("/api/v1/counters/{code}", receipts_api.get_counter, name="counter")
    app.router.add_put(
        "/api/v1/counters/{code}", receipts_api.update_counter, name="update_counter"
    )
    app.router.add_delete(
        "/api/v1/counters/{code}", receipts_api.delete_counter, name="delete_counter"
    )
    app.router.add_post("/api/v1/receipts", receipts_api.post_receipt, name="post_receipt")
    # Receipt numbers may contain '/', so the parameter spans path segments.
    app.router.add_get("/api/v1/receipts/{receipt_no:.+}", receipts_api.get_receipt, name="receipt")
    app.router.add_post(
        "/api/v1/receipts/{receipt_no:.+}/complete",
        receipts_api.complete_receipt,
        name="complete_receipt",
    )
