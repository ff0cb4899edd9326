"""URL table of the application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web import api, cameras_api, clips_api, lookup_api, lookup_page, pages, receipts_api

STATIC_DIR = Path(__file__).resolve().parent / "static"


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/health", api.health, name="health")
    app.router.add_get("/api/v1/openapi.json", api.openapi, name="openapi")
    app.router.add_get("/api/v1/cameras", api.cameras, name="cameras")
    # Camera management (web/cameras_api.py); /probe before /{name} for readability only:
    # the methods differ, so they cannot shadow each other.
    app.router.add_post("/api/v1/cameras", cameras_api.create_camera, name="create_camera")
    app.router.add_post("/api/v1/cameras/probe", cameras_api.probe_camera, name="probe_camera")
    app.router.add_get("/api/v1/cameras/{name}", cameras_api.get_camera_detail, name="camera")
    app.router.add_patch("/api/v1/cameras/{name}", cameras_api.update_camera, name="update_camera")
    app.router.add_delete("/api/v1/cameras/{name}", cameras_api.delete_camera, name="delete_camera")
    app.router.add_get(
        "/api/v1/cameras/{name}/snapshot", cameras_api.snapshot, name="camera_snapshot"
    )
    app.router.add_post("/api/v1/discover", cameras_api.discover_cameras, name="discover_cameras")
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
    # Pages.
    app.router.add_get("/", pages.home, name="home")
    app.router.add_get("/login", pages.login_page, name="login")
    app.router.add_post("/login", pages.login_submit, name="login_submit")
    app.router.add_post("/logout", pages.logout, name="logout")
    app.router.add_get("/lookup", lookup_page.lookup_page, name="lookup_page")
    app.router.add_get("/desk", lookup_page.desk_page, name="desk_page")
    app.router.add_post("/desk", lookup_page.desk_scan, name="desk_scan")
    app.router.add_static("/static", STATIC_DIR, name="static")
