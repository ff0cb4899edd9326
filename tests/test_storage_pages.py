"""The storage pages, on SQLite and PostgreSQL: the dashboard's storage box and volume
alarms (the "disk full — evidence protected" one), /storage with its forms (CSRF, placing
and releasing a legal hold, rules, a manual pass), and a receipt's case and holds on the
lookup page, in Chinese and English. Forms are posted as a browser would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from index.db import Database
from surveil.config import WebSettings
from surveil.retention import DAY_US
from surveil.timefmt import datetime_from_us
from tests.test_accounts_api import SECOND, T0
from tests.test_storage_api import ARCHIVE_DAYS, RETAIN_DAYS, Store, days_ago, iso, open_store

ZONE = ZoneInfo(WebSettings().timezone)


def local(us: int) -> str:
    """A time as a datetime-local form field sends it (the [web] timezone)."""
    return datetime_from_us(us).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def shown(us: int) -> str:
    return datetime_from_us(us).astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
async def store(db: Database, tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(db, tmp_path)
    try:
        yield s
    finally:
        await s.client.close()


async def _page(store: Store, path: str, status: int = 200) -> str:
    resp = await store.client.get(path, allow_redirects=False)
    body = await resp.text()
    assert resp.status == status, body
    return body


async def _post(store: Store, path: str, data: list[tuple[str, str]]) -> tuple[int, str]:
    resp = await store.client.post(path, data=data, allow_redirects=False)
    return resp.status, resp.headers.get("Location", "")


def _rows(page: str, table: str) -> list[str]:
    """The data-hold ids of a table's rows."""
    found = re.search(rf'<table class="admin" id="{table}">(.*?)</table>', page, re.S)
    return re.findall(r'data-hold="(\d+)"', found.group(1)) if found else []


# --- the dashboard ---------------------------------------------------------------------------


async def test_the_dashboard_shows_storage_and_the_evidence_protected_alarm(
    db: Database, tmp_path: Path
) -> None:
    # More free space asked for than any disk has, and nothing deletable: the volume is full.
    store = await open_store(db, tmp_path, storage={"min_free_mb": 10_000_000})
    try:
        await store.footage("cam-a", [days_ago(40)])
        await store.footage("cam-b", [days_ago(2)])
        body = {"cameras": ["cam-a"], "start": iso(days_ago(41)), "reason": "court order 17"}
        assert (await store.call("POST", "/api/v1/holds", body))[0] == 201
        assert store.lifecycle is not None
        await store.lifecycle.space.check()  # a disk pass frees nothing: full
        await store.login("eve")
        en = await _page(store, "/dashboard?lang=en")
        alarm = re.search(r'<li class="alarm disk full">([^<]*)</li>', en)
        assert alarm is not None, en
        assert alarm.group(1).startswith("Disk full — evidence protected: volume main has ")
        assert 'data-volume="main" data-level="full"' in en
        assert "full — evidence protected</span>" in en and 'class="meter full"' in en
        assert re.search(r"used \(\d+\.\d%\), [0-9.]+ [KMGT]?B free", en)
        cam_a = re.search(r'<tr data-camera="cam-a">(.*?)</tr>', en, re.S)
        assert cam_a is not None and shown(days_ago(40)) in cam_a.group(1)
        assert f"40.0 / {RETAIN_DAYS} days" in cam_a.group(1) and "config" in cam_a.group(1)
        assert f"2.0 / {RETAIN_DAYS} days" in en
        assert 'id="legal-holds" data-count="1">Active legal holds: 1<' in en
        last = re.search(r'<p id="last-pass"[^>]*>([^<]*)</p>', en)
        assert last is not None
        assert "(disk space), deleted 0 segments, 0 B" in last.group(1)
        assert "Deleted under retention so far: 0 segments, 0 B." in en
        assert 'id="disk"' not in en  # the volumes stand for the data directory
        zh = await _page(store, "/dashboard?lang=zh")
        assert '<li class="alarm disk full">磁盘已满——证据录像受保护：卷 main 仅剩' in zh
        assert f"40.0 / {RETAIN_DAYS} 天" in zh and "生效中的保全：1 项" in zh
        assert "已满——证据录像受保护</span>" in zh and "最近一次清理" in zh
    finally:
        await store.client.close()


async def test_the_dashboard_without_the_lifecycle_keeps_its_disk_box(
    db: Database, tmp_path: Path
) -> None:
    store = await open_store(db, tmp_path, lifecycle=False)
    try:
        await store.login("root")
        page = await _page(store, "/dashboard?lang=en")
        assert 'id="disk"' in page and 'id="storage"' not in page
        assert 'id="storage-unavailable"' in await _page(store, "/storage?lang=en")
        assert "存储管理" in await _page(store, "/storage?lang=zh")
    finally:
        await store.client.close()


# --- /storage --------------------------------------------------------------------------------


async def test_the_forms_are_refused_without_the_csrf_token(store: Store) -> None:
    await store.login("root")
    place = [("cameras", "cam-a"), ("start", local(days_ago(3))), ("reason", "court")]
    attempts = [
        ("/storage/holds", place),
        ("/storage/rules", [("scope", "installation"), ("retain_days", "10")]),
        ("/storage/rules/remove", [("scope", "installation")]),
        ("/storage/holds/1/release", [("reason", "done")]),
        ("/storage/passes", []),
    ]
    for path, data in attempts:
        for forged in ([], [("csrf_token", "forged")]):
            status, _ = await _post(store, path, data + forged)
            assert status == 403, path
    _, holds = await store.call("GET", "/api/v1/holds")
    _, rules = await store.call("GET", "/api/v1/retention/rules")
    _, passes = await store.call("GET", "/api/v1/retention/passes")
    assert (holds["holds"], rules["rules"], passes["passes"]) == ([], [], [])
    assert len(await store.audit(outcome="denied", actor="root")) == 10


async def test_a_legal_hold_is_placed_and_released_through_the_forms(store: Store) -> None:
    csrf = await store.login("root")
    page = await _page(store, "/storage?lang=en")
    assert 'id="hold-form"' in page and 'id="no-active-holds"' in page
    assert '<option value="cam-a">cam-a</option>' in page
    start, end = days_ago(41), days_ago(38)
    status, location = await _post(
        store,
        "/storage/holds",
        [
            ("cameras", "cam-a"),
            ("cameras", "cam-b"),
            ("start", local(start)),
            ("end", local(end)),
            ("reason", " court order 2026-17 "),
            ("csrf_token", csrf),
        ],
    )
    assert (status, location) == (303, "/storage?done=hold_placed&n=2")
    page = await _page(store, location + "&lang=en")
    assert "Legal hold placed (2 cameras)." in page
    active = _rows(page, "active-holds")
    assert len(active) == 2 and _rows(page, "ended-holds") == []
    assert page.count("court order 2026-17</td>") == 2
    assert f"{shown(start)} – {shown(end)}" in page
    placed = await store.audit(action="hold.place")
    assert [(e.actor, e.actor_kind, e.detail["start_us"]) for e in placed] == [
        ("root", "user", start),
        ("root", "user", start),
    ]
    # Released with a reason: it moves to the released table, with who and why.
    hold = active[0]
    status, location = await _post(
        store,
        f"/storage/holds/{hold}/release",
        [("reason", "the court lifted it"), ("csrf_token", csrf)],
    )
    assert (status, location) == (303, f"/storage?done=hold_released&n={hold}")
    page = await _page(store, location + "&lang=en")
    assert f"Legal hold {hold} released." in page
    assert _rows(page, "active-holds") == active[1:] and _rows(page, "ended-holds") == [hold]
    assert "root: the court lifted it" in page
    [released] = await store.audit(action="hold.release")
    assert (released.actor, released.target) == ("root", f"hold {hold}")
    zh = await _page(store, "/storage?lang=zh")
    assert "已解除的保全" in zh and "设置保全" in zh
    # Releasing again, or a hold that does not exist: back with the reason, translated.
    for target, code in ((hold, "conflict"), ("999", "hold_not_found")):
        status, location = await _post(
            store, f"/storage/holds/{target}/release", [("reason", "x"), ("csrf_token", csrf)]
        )
        assert (status, location) == (303, f"/storage?error={code}&form=release")
    page = await _page(store, "/storage?error=hold_not_found&form=release&lang=en")
    assert '<p class="error" role="alert" id="release-error">No such hold.</p>' in page
    status, location = await _post(
        store, f"/storage/holds/{active[1]}/release", [("reason", "  "), ("csrf_token", csrf)]
    )
    assert location == "/storage?error=missing&field=reason&form=release"
    page = await _page(store, location + "&lang=en")
    assert "&#39;Reason&#39; is required." in page
    assert "「理由」为必填项。" in await _page(store, location + "&lang=zh")
    assert len(await store.audit(action="hold.release")) == 1


async def test_the_place_form_refuses_what_the_api_refuses(store: Store) -> None:
    csrf = await store.login("root")
    cases = [
        ([("start", local(days_ago(2))), ("reason", "r")], "error=missing&field=cameras"),
        ([("cameras", "cam-a"), ("reason", "r")], "error=missing&field=start"),
        ([("cameras", "cam-a"), ("start", "yesterday"), ("reason", "r")], "field=start"),
        ([("cameras", "nope"), ("start", local(days_ago(2))), ("reason", "r")], "camera_not_found"),
        (
            [("cameras", "cam-a"), ("start", local(days_ago(2))), ("end", local(days_ago(3))),
             ("reason", "r")],
            "error=hold_order",
        ),
    ]  # fmt: skip
    for data, expected in cases:
        status, location = await _post(store, "/storage/holds", [*data, ("csrf_token", csrf)])
        assert status == 303 and expected in location and "form=hold" in location, location
    status, location = await _post(
        store,
        "/storage/holds",
        [
            ("cameras", "Cam A"),
            ("start", local(days_ago(2))),
            ("reason", "r"),
            ("csrf_token", csrf),
        ],
    )
    assert location == "/storage?error=string_pattern_mismatch&field=cameras.0&form=hold"
    page = await _page(store, location + "&lang=en")
    assert 'id="hold-error">&#39;Cameras&#39; is not in the right form.</p>' in page
    page = await _page(store, "/storage?error=hold_order&form=hold&lang=en")
    assert 'id="hold-error">The hold must end after it starts.</p>' in page
    zh = await _page(store, "/storage?error=camera_not_found&form=hold&lang=zh")
    assert 'id="hold-error">找不到该摄像机。</p>' in zh
    assert await store.audit(action="hold.place") == []


async def test_rules_are_set_and_removed_through_the_forms(store: Store) -> None:
    csrf = await store.login("root")
    page = await _page(store, "/storage?lang=en")
    assert f'id="default-rule" data-days="{RETAIN_DAYS}"' in page and 'id="no-rules"' in page
    for scope, ref, days in (("counter", "A01", "90"), ("installation", "", "60")):
        data = [("scope", scope), ("ref", ref), ("retain_days", days), ("csrf_token", csrf)]
        assert await _post(store, "/storage/rules", data) == (303, "/storage?done=rule_set")
    page = await _page(store, "/storage?done=rule_set&lang=en")
    assert "The retention rule is set." in page
    assert 'data-scope="counter" data-ref="A01" data-days="90"' in page
    assert 'data-scope="installation" data-ref="" data-days="60"' in page
    assert '<tr data-camera="cam-a" data-days="90">' in page  # what applies now
    assert '<tr data-camera="cam-b" data-days="60">' in page
    refusals = [
        ([("scope", "counter"), ("retain_days", "5")], "error=invalid_value&field=ref"),
        ([("scope", "installation"), ("ref", "A01"), ("retain_days", "5")], "field=ref"),
        ([("scope", "counter"), ("ref", "Z99"), ("retain_days", "5")], "error=counter_not_found"),
        ([("scope", "camera"), ("ref", "nope"), ("retain_days", "5")], "error=camera_not_found"),
        ([("scope", "camera"), ("ref", "cam-a"), ("retain_days", "0")], "field=retain_days"),
        ([("scope", "site"), ("retain_days", "5")], "error=literal_error&field=scope"),
    ]
    for data, expected in refusals:
        status, location = await _post(store, "/storage/rules", [*data, ("csrf_token", csrf)])
        assert status == 303 and expected in location and "form=rule" in location, location
    page = await _page(store, "/storage?error=counter_not_found&form=rule&lang=en")
    assert 'id="rule-error">No such counter.</p>' in page
    page = await _page(store, "/storage?error=invalid_value&field=ref&form=rule&lang=zh")
    assert "「窗口或摄像机」不符合规则。" in page
    remove = [("scope", "counter"), ("ref", "A01"), ("csrf_token", csrf)]
    assert await _post(store, "/storage/rules/remove", remove) == (
        303,
        "/storage?done=rule_removed",
    )
    assert await _post(store, "/storage/rules/remove", remove) == (
        303,
        "/storage?error=retention_rule_not_found&form=rule",
    )
    page = await _page(store, "/storage?lang=en")
    assert 'data-scope="counter"' not in page and '<tr data-camera="cam-a" data-days="60">' in page
    entries = await store.audit(action="retention.rule")
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("retention.rule_removed", "counter A01", "root"),
        ("retention.rule_set", "installation", "root"),
        ("retention.rule_set", "counter A01", "root"),
    ]


async def test_a_pass_runs_from_the_page_and_the_plan_says_what_it_would_delete(
    store: Store,
) -> None:
    ids = await store.footage("cam-a", [days_ago(40), days_ago(1)])
    csrf = await store.login("root")
    page = await _page(store, "/storage?lang=en")
    assert 'id="plan-total" data-eligible="1"' in page
    assert f'<tr data-segment="{ids[0]}">' in page and f"older than {RETAIN_DAYS} days" in page
    assert 'id="no-passes"' in page
    status, location = await _post(store, "/storage/passes", [("csrf_token", csrf)])
    assert status == 303 and location.startswith("/storage?done=pass&n=")
    number = location.rsplit("=", 1)[1]
    page = await _page(store, location + "&lang=en")
    assert f"Retention pass {number} done." in page
    assert f'<tr data-pass="{number}" data-deleted="1">' in page and "manual" in page
    assert 'id="plan-total" data-eligible="0"' in page
    assert await store.states(ids) == ["deleted", "sealed"]
    assert [e.actor for e in await store.audit(action="retention.run")] == ["root"]
    zh = await _page(store, "/storage?lang=zh")
    assert "手动" in zh and "立即清理" in zh


async def test_auditors_see_the_page_without_its_forms_and_staff_not_at_all(
    store: Store,
) -> None:
    body = {"cameras": ["cam-a"], "start": iso(days_ago(3)), "reason": "court order 17"}
    _, placed = await store.call("POST", "/api/v1/holds", body)
    csrf = await store.login("eve")
    page = await _page(store, "/storage?lang=en")
    assert 'id="read-only"' in page and _rows(page, "active-holds") == [
        str(placed["holds"][0]["id"])
    ]
    for form in ('id="hold-form"', 'id="rule-form"', 'id="run-pass"', "/release"):
        assert form not in page
    assert 'href="/storage"' in page.split("</nav>")[0]
    status, _ = await _post(store, "/storage/passes", [("csrf_token", csrf)])
    assert status == 403
    await store.login("clerk")
    await _page(store, "/storage", 403)
    page = await _page(store, "/lookup")
    assert 'href="/storage"' not in page.split("</nav>")[0]


# --- the lookup page -------------------------------------------------------------------------


async def test_the_lookup_page_shows_the_case_and_until_when_its_footage_is_held(
    store: Store,
) -> None:
    accepted = days_ago(3)
    receipt = {
        "receipt_no": "R-7",
        "counter": "A01",
        "accepted_at": iso(accepted),
        "completed_at": iso(accepted + 60 * SECOND),
    }
    assert (await store.call("POST", "/api/v1/receipts", receipt, token="desk"))[0] == 201
    await store.login("clerk")
    page = await _page(store, "/lookup?receipt=R-7&lang=en")
    assert 'id="case-state" data-state="open">open<' in page
    row = re.search(r'<tr data-camera="cam-a" data-state="active">(.*?)</tr>', page, re.S)
    assert row is not None, page
    assert f"held until the case is archived + {ARCHIVE_DAYS} days" in row.group(1)
    assert "保留至案件归档后 10 天" in await _page(store, "/lookup?receipt=R-7&lang=zh")
    archived = days_ago(1)
    case = {"state": "archived", "at": iso(archived)}
    assert (await store.call("POST", "/api/v1/receipts/R-7/case", case))[0] == 200
    page = await _page(store, "/lookup?receipt=R-7&lang=en")
    assert f'data-state="archived">archived at {shown(archived)}<' in page
    expires = archived + ARCHIVE_DAYS * DAY_US
    assert f"held until {shown(expires)} (case archived + {ARCHIVE_DAYS} days)" in page
    zh = await _page(store, "/lookup?receipt=R-7&lang=zh")
    assert f"保留至 {shown(expires)}（案件归档后 {ARCHIVE_DAYS} 天）" in zh and "归档" in zh
    store.clock.advance(expires - T0 + SECOND)
    await store.login("clerk")  # days later: a new session
    page = await _page(store, "/lookup?receipt=R-7&lang=en")
    assert '<tr data-camera="cam-a" data-state="expired">' in page
    assert f"expired at {shown(expires)}" in page
