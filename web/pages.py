"""Server-rendered pages: Jinja2 setup, the shared page context, sign-in and sign-out.

Pages are plain HTML forms (they work with a barcode scanner, which types and presses
Enter) rendered with aiohttp-jinja2, in Chinese by default with an English switch.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from index.audit import add_audit
from index.sessions import end_session
from index.users import password_hash_for, record_login
from surveil.passwords import verify_password
from surveil.timefmt import datetime_from_us
from web.access import ROUTE_ROLES, audit, audit_entry
from web.auth import (
    CSRF_FIELD,
    LIMITER_KEY,
    LOGIN_CSRF_COOKIE,
    clear_session_cookie,
    set_session_cookie,
    start_session,
)
from web.i18n import HTML_LANG, LANG_COOKIE, reason_text, request_lang, translate
from web.keys import CLOCK_KEY, DB_KEY, PAGE_CONTEXT_KEY, PRINCIPAL_KEY, SETTINGS_KEY
from web.principal import Principal

# Navigation: (route name, text key). Who sees an entry is the route's access policy
# (web.access.ROUTE_ROLES), never a second list; entries whose route is not registered
# are left out, so the menu only ever links to pages that exist and the caller may open.
NAV = (
    ("lookup_page", "nav.lookup"),
    ("desk_page", "nav.desk"),
    ("dashboard_page", "nav.dashboard"),
    ("cameras_page", "nav.cameras"),
    ("counters_page", "nav.counters"),
    ("users_page", "nav.users"),
    ("tokens_page", "nav.tokens"),
    ("audit_page", "nav.audit"),
    ("integrity_page", "nav.integrity"),
    ("storage_page", "nav.storage"),
    ("exports_page", "nav.exports"),
)
# Counts a handler may attach to menu entries for this request (route name -> n), e.g. the
# export requests waiting for the caller (web/exports_pages.py): shown beside the entry.
NAV_COUNTS_KEY = web.RequestKey("nav_counts", dict[str, int])
# What <input type="datetime-local"> sends (minutes, no zone: the configured one applies).
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"

HOME_BY_ROLE = {"admin": "dashboard_page", "auditor": "dashboard_page", "staff": "lookup_page"}


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app[PAGE_CONTEXT_KEY] = page_context


def zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS_KEY].timezone)


def local_time(request: web.Request, us: int | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A µs timestamp as wall-clock text in the configured zone."""
    if us is None:
        return ""
    return datetime_from_us(us).astimezone(zone(request)).strftime(fmt)


def local_us(request: web.Request, text: str, what: str) -> int:
    """µs since the epoch of a datetime-local form value in the configured zone.

    ValueError, naming the field (what), for anything but LOCAL_INPUT_FORMAT.
    """
    try:
        moment = datetime.strptime(text, LOCAL_INPUT_FORMAT).replace(tzinfo=zone(request))
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a time like 2026-11-26T09:30") from None
    return int(moment.timestamp()) * 1_000_000


def page_context(request: web.Request) -> dict[str, Any]:
    """What every page template needs: texts, times, the caller, CSRF token, menu."""
    lang = request_lang(request)
    who: Principal | None = request.get(PRINCIPAL_KEY)
    names = request.app.router.named_resources()
    counts = request.get(NAV_COUNTS_KEY, {})
    nav = [
        (
            str(names[route].url_for()),
            translate(lang, key),
            route == request.match_info.route.name,
            counts.get(route, 0),
        )
        for route, key in NAV
        if route in names and who is not None and who.role in ROUTE_ROLES[route]
    ]
    other = "en" if lang == "zh" else "zh"
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "t": lambda key, **kw: translate(lang, key, **kw),
        "reason": lambda text: reason_text(lang, text),
        "when": lambda us, fmt="%Y-%m-%d %H:%M:%S": local_time(request, us, fmt),
        "who": who,
        "csrf_token": who.csrf_token if who and who.csrf_token else "",
        "csrf_field": CSRF_FIELD,
        "nav": nav,
        "lang_switch": str(request.rel_url.update_query(lang=other)),
        "lang_switch_to": other,
    }


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    full = {**page_context(request), **context}
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    lang = request.query.get("lang")
    if lang is not None and lang == request_lang(request):
        # ?lang= switches the language for this and later pages.
        response.set_cookie(LANG_COOKIE, lang, samesite="Strict", httponly=True, path="/")
    return response


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login link must not bounce people to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


async def home(request: web.Request) -> web.StreamResponse:
    who = request[PRINCIPAL_KEY]
    names = request.app.router.named_resources()
    route = HOME_BY_ROLE.get(who.role, "lookup_page")
    if route not in names:
        route = "lookup_page"
    raise web.HTTPSeeOther(str(names[route].url_for()))


async def login_form(
    request: web.Request, message: str | None = None, status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "login_csrf": token,
            "next": _safe_next(request.query.get("next")),
            "message": message,
            "username": "",
        },
        status=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


async def login_page(request: web.Request) -> web.Response:
    return await login_form(request)


async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the password (rate limited, audited); on success a fresh session."""
    form = await request.post()
    lang = request_lang(request)
    username = str(form.get("username", ""))[:64].strip()
    password = str(form.get("password", ""))
    sent = str(form.get(CSRF_FIELD, ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        await audit(request, "login", "denied", target=username or None, detail={"why": "csrf"})
        return await login_form(request, translate(lang, "login.expired"), status=403)
    limiter = request.app[LIMITER_KEY]
    clock = request.app[CLOCK_KEY]
    wait_s = limiter.retry_after_s(username, request.remote, clock.monotonic_us())
    if wait_s:
        await audit(request, "login", "denied", target=username, detail={"why": "rate limited"})
        return await login_form(
            request, translate(lang, "login.limited", seconds=wait_s), status=429
        )
    db = request.app[DB_KEY]
    async with db.read() as s:
        found = await password_hash_for(s, username)
    stored = found[1] if found else None
    ok = await asyncio.to_thread(verify_password, stored, password)
    user = found[0] if found else None
    if not ok or user is None or user.disabled_us is not None:
        limiter.failed(username, request.remote, clock.monotonic_us())
        why = "disabled" if ok and user is not None else "wrong user name or password"
        await audit(request, "login", "failed", target=username, detail={"why": why})
        return await login_form(request, translate(lang, "login.failed"), status=401)
    limiter.succeeded(username)
    started = await start_session(request, user)
    now_us = clock.now_us()
    # Not yet request[PRINCIPAL_KEY]: attribute the login to the account itself.
    entry = replace(
        audit_entry(request, "login", "ok", target=user.username),
        actor=user.username,
        actor_kind="user",
    )
    user_id = user.id

    async def stamp(s: Any) -> None:
        await record_login(s, user_id, now_us)
        await add_audit(s, entry, now_us)

    await db.write(stamp)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", "/"))))
    set_session_cookie(response, started.sid, request.app[SETTINGS_KEY])
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (CSRF-checked by the guard, as every state change)."""
    who = request[PRINCIPAL_KEY]
    now_us = request.app[CLOCK_KEY].now_us()
    entry = audit_entry(request, "logout", "ok", target=who.name)
    session_id = who.session_id

    async def end(s: Any) -> None:
        if session_id is not None:
            await end_session(s, session_id, "logout", now_us)
        await add_audit(s, entry, now_us)

    await request.app[DB_KEY].write(end)
    response = web.HTTPSeeOther(str(request.app.router["login"].url_for()))
    clear_session_cookie(response)
    raise response
