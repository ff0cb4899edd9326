"""One home for each write policy: the services in surveil/ are what every entry point calls.

- surveil/ never imports web/ (but for the wiring in surveil/service.py), so a policy
  cannot hide in a handler where the CLI and the import would miss it;
- a counter deleted through the API reconciles the recorders as one deleted on the page
  does, because both call surveil.counters.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import aiohttp

from index import tokens
from surveil.accounts import new_token
from surveil.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
WIRING = {"surveil/service.py"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_surveil_does_not_import_web_except_the_wiring() -> None:
    offenders = {
        rel: sorted(m for m in _imported_modules(path) if m == "web" or m.startswith("web."))
        for path in sorted((ROOT / "surveil").rglob("*.py"))
        if (rel := path.relative_to(ROOT).as_posix()) not in WIRING
    }
    assert {rel: mods for rel, mods in offenders.items() if mods} == {}


async def test_counter_delete_through_the_api_reconciles(
    service_factory: Any, rtsp_camera: Any, tmp_path: Path, database_url: str
) -> None:
    cam = rtsp_camera()
    cfg = parse_config(
        {
            "data_dir": str(tmp_path / "data"),
            "database_url": database_url,
            "web": {"listen": "127.0.0.1:0"},
            "recording": {"segment_seconds": 2.0},
            "counters": [{"code": "A01", "name": "Window 1"}],
            "onvif": {"reprobe_minutes": 0},
        }
    )
    service = await service_factory(cfg)
    assert service.db is not None and service.supervisor is not None
    sup = service.supervisor
    calls: list[str] = []
    real_reconcile = sup.reconcile

    async def counted() -> None:
        calls.append("reconcile")
        await real_reconcile()

    sup.reconcile = counted  # type: ignore[method-assign]
    token, digest = new_token()
    await service.db.write(lambda s: tokens.create_token(s, "a", "admin", digest, 1))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        body = {"name": "cam-x", "url": cam.url, "counters": ["A01"]}
        async with http.post(f"{service.url}api/v1/cameras", json=body) as resp:
            assert resp.status == 201, await resp.text()
        assert calls == ["reconcile"]
        body = {"code": "B02", "name": "Window 2"}
        async with http.post(f"{service.url}api/v1/counters", json=body) as resp:
            assert resp.status == 201, await resp.text()
        async with http.delete(f"{service.url}api/v1/counters/A01") as resp:
            assert resp.status == 204, await resp.text()
        assert calls == ["reconcile", "reconcile"]
        async with http.get(f"{service.url}api/v1/cameras/cam-x") as resp:
            assert (await resp.json())["counters"] == []
