"""URL table of the application."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from aiohttp import web

from web import (
    accounts_api,
    admin_pages,
    api,
    camera_pages,
    cameras_api,
    clips_api,
    exports_api,
    exports_pages,
    integrity_api,
    integrity_pages,
    lookup_api,
    lookup_page,
    metrics,
    pages,
    receipts_api,
    storage_api,
    storage_pages,
)
from web.access import ROUTE_ROLES
from web.keys import OPENAPI_KEY
from web.openapi import JsonDict, Op, bind, document

STATIC_DIR = Path(__file__).resolve().parent / "static"

# The JSON API, in the document's order: the router and the OpenAPI document are both
# built from these (web/openapi.py); each module lists its own operations.
API_OPS: tuple[Op, ...] = (
    *api.OPS,
    *cameras_api.OPS,
    *lookup_api.OPS,
    *clips_api.OPS,
    *receipts_api.OPS,
    *accounts_api.OPS,
    *integrity_api.OPS,
    *storage_api.OPS,
    *exports_api.OPS,
)


@cache
def api_document() -> JsonDict:
    """The OpenAPI document of API_OPS (built once; callers must not modify it)."""
    return document(API_OPS, ROUTE_ROLES)


def setup_routes(app: web.Application) -> None:
    for op in API_OPS:
        if op.method == "GET":  # with HEAD, as every GET
            app.router.add_get(op.path, bind(op), name=op.name)
        else:
            app.router.add_route(op.method, op.path, bind(op), name=op.name)
    app[OPENAPI_KEY] = api_document()
    # Pages.
    app.router.add_get("/", pages.home, name="home")
    app.router.add_get("/login", pages.login_page, name="login")
    app.router.add_post("/login", pages.login_submit, name="login_submit")
    app.router.add_post("/logout", pages.logout, name="logout")
    app.router.add_get("/lookup", lookup_page.lookup_page, name="lookup_page")
    app.router.add_get("/desk", lookup_page.desk_page, name="desk_page")
    app.router.add_post("/desk", lookup_page.desk_scan, name="desk_scan")
    app.router.add_static("/static", STATIC_DIR, name="static")
    # Users, API tokens and the audit log pages (web/admin_pages.py; the API: accounts_api.OPS).
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
    # The integrity log's pages (web/integrity_pages.py; the API: integrity_api.OPS).
    ip = integrity_pages
    app.router.add_get("/integrity", ip.integrity_page, name="integrity_page")
    app.router.add_post("/integrity/verify", ip.integrity_verify, name="integrity_verify")
    app.router.add_post("/integrity/checkpoint", ip.integrity_issue, name="integrity_issue")
    app.router.add_get("/integrity/help", ip.integrity_help, name="integrity_help")
    # The storage lifecycle's page (web/storage_pages.py; the API: storage_api.OPS).
    sp = storage_pages
    app.router.add_get("/storage", sp.storage_page, name="storage_page")
    app.router.add_post("/storage/rules", sp.storage_rule_set, name="storage_rule_set")
    app.router.add_post("/storage/rules/remove", sp.storage_rule_remove, name="storage_rule_remove")
    app.router.add_post("/storage/holds", sp.storage_hold_place, name="storage_hold_place")
    app.router.add_post(
        "/storage/holds/{id}/release", sp.storage_hold_release, name="storage_hold_release"
    )
    app.router.add_post("/storage/passes", sp.storage_pass_run, name="storage_pass_run")
    # Export requests' pages (web/exports_pages.py): /exports/new before /exports/{id}.
    xp = exports_pages
    app.router.add_get("/exports", xp.exports_page, name="exports_page")
    app.router.add_get("/exports/new", xp.export_new_page, name="export_new_page")
    app.router.add_post("/exports/new", xp.export_create, name="export_create")
    app.router.add_get(r"/exports/{id:\d+}", xp.export_page, name="export_page")
    app.router.add_get(r"/exports/{id:\d+}/package.zip", xp.export_download, name="export_download")
    app.router.add_post(r"/exports/{id:\d+}/{step:[a-z]+}", xp.export_step, name="export_step")
    # The Prometheus scrape (web/metrics.py; not part of the JSON API or its document).
    app.router.add_get("/metrics", metrics.metrics, name="metrics")
