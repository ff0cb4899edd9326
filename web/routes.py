"""URL table of the application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web import (
    accounts_api,
    admin_pages,
    api,
    camera_pages,
    cameras_api,
    clips_api,
    lookup_api,
    lookup_page,
    pages,
    receipts_api,
)

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
    # Before the generic receipt route: receipt numbers may contain '/'.
    app.router.add_get(
        "/api/v1/receipts/{receipt_no:.+}/clips/{camera}.mp4",
        clips_api.receipt_clip,
        name="receipt_clip",
    )
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
    # Users, API tokens and the audit log (web/accounts_api.py, web/admin_pages.py).
    app.router.add_get("/api/v1/users", accounts_api.list_users, name="users")
    app.router.add_post("/api/v1/users", accounts_api.create_user, name="create_user")
    app.router.add_get("/api/v1/users/{username}", accounts_api.get_user, name="user")
    app.router.add_patch("/api/v1/users/{username}", accounts_api.update_user, name="update_user")
    app.router.add_get("/api/v1/tokens", accounts_api.list_tokens, name="tokens")
    app.router.add_post("/api/v1/tokens", accounts_api.create_token, name="create_token")
    app.router.add_delete("/api/v1/tokens/{id}", accounts_api.revoke_token, name="revoke_token")
    app.router.add_get("/api/v1/audit", accounts_api.audit_log, name="audit_log")
    app.router.add_get("/users", admin_pages.users_page, name="users_page")
    app.router.add_post("/users", admin_pages.users_create, name="users_create")
    app.router.add_post("/users/{username}", admin_pages.users_update, name="users_update")
    app.router.add_get("/tokens", admin_pages.tokens_page, name="tokens_page")
    app.router.add_post("/tokens", admin_pages.tokens_create, name="tokens_create")
    app.router.add_post("/tokens/{id}/revoke", admin_pages.tokens_revoke, name="tokens_revoke")
    app.router.add_get("/audit", admin_pages.audit_page, name="audit_page")
    # Dashboard, cameras and counters pages (web/camera_pages.py).
    cp = camera_pages
    app.router.add_get("/dashboard", cp.dashboard_page, name="dashboard_page")
    app.router.add_get("/cameras", cp.cameras_page, name="cameras_page")
    app.router.add_post("/cameras/discover", cp.camera_discover, name="camera_discover")
    app.router.add_post("/cameras/probe", cp.camera_probe, name="camera_probe")
    app.router.add_post("/cameras/add-onvif", cp.camera_add_onvif, name="camera_add_onvif")
    app.router.add_post("/cameras/add-url", cp.camera_add_url, name="camera_add_url")
    app.router.add_get("/cameras/{name}/edit", cp.camera_edit_page, name="camera_edit_page")
    app.router.add_post("/cameras/{name}/edit", cp.camera_edit_submit, name="camera_edit")
    app.router.add_post("/cameras/{name}/enable", cp.camera_enable, name="camera_enable")
    app.router.add_get("/cameras/{name}/delete", cp.camera_delete_page, name="camera_delete_page")
    app.router.add_post("/cameras/{name}/delete", cp.camera_delete_submit, name="camera_delete")
    app.router.add_get("/counters", cp.counters_page, name="counters_page")
    app.router.add_post("/counters", cp.counter_create, name="counter_create")
    app.router.add_post("/counters/{code}/edit", cp.counter_update, name="counter_update")
    app.router.add_post("/counters/{code}/delete", cp.counter_delete, name="counter_delete")
    app.router.add_post("/counters/{code}/cameras", cp.counter_cameras, name="counter_cameras")
