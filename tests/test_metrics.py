"""GET /metrics: the Prometheus scrape of a real service, its access rule, its sources.

A running service with the built-in synthetic camera is scraped over loopback TCP: the
camera's byte and fragment counters grow between two scrapes, the volume of data_dir and
the integrity log are there. The access rule is tested over HTTP (tokens of each role, a
wrong token, and a Unix socket: a peer with no address, the only non-loopback peer a
loopback-only machine offers) and as the decision function with crafted peer addresses.
A source that raises, or one that hangs, costs only its own metrics or that scrape.
Every metric exported must be in docs/ref/metrics.md.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from index import holds, runs, segments
from index.audit import list_audit
from index.db import Database
from index.tokens import create_token
from surveil.accounts import new_token
from surveil.central.directory import DirectoryTarget
from surveil.clock import FakeClock
from surveil.config import IntegrityConfig, TransferConfig, parse_config
from surveil.integrity import Integrity
from surveil.lifecycle import Lifecycle
from surveil.metrics import MetricsSource
from surveil.service import Service
from surveil.status import CameraStatus
from surveil.timefmt import us_from_iso
from surveil.transfer import Transferrer
from tests.cameras import free_port
from tests.harness import NoStatus, make_config, wait_for
from tests.rows import sealed_segment
from tests.test_index import add_camera
from tlog.note import Signer
from web import metrics as web_metrics
from web.app import create_app
from web.errors import Forbidden, Unauthorized
from web.metrics import is_loopback, scrape_refusal
from web.principal import Principal

T0 = us_from_iso("2026-11-26T02:00:00+00:00")
SECOND = 1_000_000
REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "ref" / "metrics.md"
ROLES = ("admin", "auditor", "staff")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """{(sample name, sorted labels): value} of a text-format exposition."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in found, f"{name}{labels} not exported; got {sorted({n for n, _ in found})}"
    return found[key]


def names(found: Samples) -> set[str]:
    return {n for n, _ in found}


def documented() -> set[str]:
    """The metric names in the first column of the reference's tables."""
    return set(re.findall(r"^\| `(surveil_[a-z0-9_]+)` \|", REFERENCE.read_text(), re.M))


# -- a real service, a recording camera ---------------------------------------------------


async def _scrape(session: aiohttp.ClientSession, url: str, **kw: Any) -> Samples:
    async with session.get(url, **kw) as resp:
        text = await resp.text()
        assert resp.status == 200, text
        assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return samples(text)


async def test_a_loopback_scrape_shows_the_camera_recording(
    service_factory: Any, tmp_path: Path, database_url: str
) -> None:
    """cam1 records (the built-in synthetic camera); cam2's port is closed: it retries."""
    unreachable = f"rtsp://127.0.0.1:{free_port()}/none"
    cfg = make_config(
        tmp_path / "data",
        database_url,
        [
            {"name": "cam1", "url": "synthetic:", "counters": []},
            {"name": "cam2", "url": unreachable, "counters": []},
        ],
        fragment_seconds=0.5,
    )
    service: Service = await service_factory(cfg)
    url = service.url + "metrics"
    async with aiohttp.ClientSession() as http:  # no token: loopback needs none
        first: Samples = {}

        async def recording() -> bool:
            nonlocal first
            first = await _scrape(http, url)
            return ("surveil_camera_fragments_total", (("camera", "cam1"),)) in first and (
                value(first, "surveil_camera_fragments_total", camera="cam1") > 0
            )

        await wait_for(recording, 20, "cam1's first fragment in the metrics")
        later: Samples = {}

        async def grown() -> bool:
            nonlocal later
            later = await _scrape(http, url)
            return (
                value(later, "surveil_camera_fragments_total", camera="cam1")
                > value(first, "surveil_camera_fragments_total", camera="cam1")
                and value(later, "surveil_camera_reconnects_total", camera="cam2") >= 2
            )

        await wait_for(grown, 20, "more fragments and cam2's retries in a later scrape")
        # OpenMetrics when asked for it (Prometheus asks for it first).
        om_accept = {"Accept": "application/openmetrics-text;version=1.0.0"}
        async with http.get(url, headers=om_accept) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
            om = {f.name for f in openmetrics_families(await resp.text())}
    assert {"surveil_camera_bytes", "surveil_volume_free_bytes"} <= om
    cam = {"camera": "cam1"}
    assert value(later, "surveil_camera_bytes_total", **cam) > value(
        first, "surveil_camera_bytes_total", **cam
    )
    assert value(later, "surveil_camera_frames_total", **cam) > 0
    assert value(later, "surveil_camera_up", **cam) == 1
    assert value(later, "surveil_camera_state", camera="cam1", state="recording") == 1
    assert value(later, "surveil_camera_state", camera="cam1", state="offline") == 0
    assert value(later, "surveil_camera_reconnects_total", **cam) == 0
    # Every attempt after the first is a reconnect, whether it succeeds or not.
    assert value(later, "surveil_camera_up", camera="cam2") == 0
    assert value(later, "surveil_camera_state", camera="cam2", state="offline") == 1
    assert value(later, "surveil_camera_bytes_total", camera="cam2") == 0
    assert value(later, "surveil_camera_storage_error", **cam) == 0
    assert 0 <= value(later, "surveil_camera_last_packet_age_seconds", **cam) < 5
    used = value(later, "surveil_volume_used_bytes", volume="main")
    free = value(later, "surveil_volume_free_bytes", volume="main")
    total = value(later, "surveil_volume_total_bytes", volume="main")
    assert used > 0 and free > 0 and used + free <= total
    assert value(later, "surveil_volume_error", volume="main") == 0
    assert value(later, "surveil_log_size") >= 0
    assert value(later, "surveil_build_info", version="0.1.0") == 1
    for source in ("CameraMetrics", "DiskMetrics", "IntegrityMetrics"):
        assert value(later, "surveil_metrics_source_errors_total", source=source) == 0
    assert names(later) <= documented()


# -- every metric is documented -----------------------------------------------------------


async def _lifecycle_with_everything(db: Database, data_dir: Path, clock: FakeClock) -> Lifecycle:
    """A lifecycle with a quota, footage on disk, a finished pass and a legal hold."""
    cfg = parse_config(
        {
            "data_dir": str(data_dir),
            "storage": {"volumes": [{"name": "main", "path": str(data_dir), "quota_gb": 1}]},
        }
    )
    lifecycle = Lifecycle.configured(db, cfg, clock)
    camera_id = await add_camera(db)
    run_id = await db.write(lambda s: runs.start_run(s, camera_id, T0, "test"))
    row = sealed_segment(camera_id, run_id, 0, "hall-1/a.mp4", T0, T0 + SECOND)
    await db.write(lambda s: segments.upsert_segment(s, row))
    await db.write(lambda s: holds.add_hold(s, camera_id, T0, None, "court", kind="legal"))
    await lifecycle.space.check()
    await lifecycle.retention.run_pass("manual")
    central = data_dir / "central"
    central.mkdir()
    lifecycle.transfer = Transferrer(
        db,
        lifecycle.volumes,
        clock,
        TransferConfig(target="directory", path=central),
        DirectoryTarget(central),
    )
    return lifecycle


async def test_every_exported_metric_is_documented(db: Database, tmp_path: Path) -> None:
    """With every optional value set, a checkpoint, a scrub cycle and a verify done."""
    clock = FakeClock(T0)
    integrity = Integrity(db, tmp_path, clock, IntegrityConfig(), Signer.generate("test/log"))
    await integrity.checkpoint_now()
    await integrity.scrubber.cycle()
    await integrity.verify()
    clock.advance(90 * SECOND)
    full = CameraStatus(
        name="cam1",
        state="recording",
        last_packet_us=T0 + 89 * SECOND,
        fps=25.0,
        bitrate_bps=2e6,
        current_segment="cam1/x.mp4",
        error=None,
        run_id=1,
        freshness_p50_s=0.4,
        freshness_p99_s=0.9,
        frames=10,
        clock_offset_s=0.25,
        alarms=("camera clock off by 0.25 s",),
        bytes_written=1000,
        fragments_written=2,
        reconnects=3,
    )
    lifecycle = await _lifecycle_with_everything(db, tmp_path, clock)
    app = create_app(
        db, _Statuses([full]), tmp_path, clock, integrity=integrity, lifecycle=lifecycle
    )
    async with _client(app) as client:
        found = samples(await (await client.get("/metrics")).text())
    assert names(found) - documented() == set(), "exported but not in docs/ref/metrics.md"
    assert documented() - names(found) == set(), "in docs/ref/metrics.md but not exported"
    # The values come from the status as given, and ages from the service clock.
    assert value(found, "surveil_camera_reconnects_total", camera="cam1") == 3
    assert value(found, "surveil_camera_last_packet_age_seconds", camera="cam1") == 1.0
    assert value(found, "surveil_camera_freshness_seconds", camera="cam1", quantile="0.99") == 0.9
    assert value(found, "surveil_camera_alarms", camera="cam1") == 1
    assert value(found, "surveil_checkpoints_total") == 1
    assert value(found, "surveil_checkpoint_age_seconds") == 90
    assert value(found, "surveil_verify_age_seconds") == 90
    assert value(found, "surveil_scrub_running") == 0


# -- who may scrape ------------------------------------------------------------------------


class _Statuses:
    def __init__(self, statuses: list[CameraStatus]) -> None:
        self._statuses = statuses

    def camera_status(self) -> list[CameraStatus]:
        return list(self._statuses)


def _client(app: web.Application) -> TestClient[Any, Any]:
    return TestClient(TestServer(app, host="127.0.0.1"))


@dataclass
class Scraping:
    client: TestClient[Any, Any]
    app: web.Application
    db: Database
    tokens: dict[str, str]

    async def get(self, token: str | None = None) -> tuple[int, dict[str, Any] | str, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.client.get("/metrics", headers=headers) as resp:
            challenge = resp.headers.get("WWW-Authenticate", "")
            if resp.content_type == "application/json":
                return resp.status, await resp.json(), challenge
            return resp.status, await resp.text(), challenge


@pytest.fixture
async def scraping(db: Database, tmp_path: Path) -> AsyncIterator[Scraping]:
    tokens: dict[str, str] = {}
    for role in ROLES:
        token, digest = new_token()
        tokens[role] = token
        await db.write(lambda s, r=role, d=digest: create_token(s, f"tok-{r}", r, d, T0))
    app = create_app(db, NoStatus(), tmp_path, FakeClock(T0))
    client = _client(app)
    await client.start_server()
    try:
        yield Scraping(client, app, db, tokens)
    finally:
        await client.close()


def _code(body: dict[str, Any] | str) -> str:
    assert isinstance(body, dict), body
    return str(body["error"]["code"])


async def test_tokens_are_judged_before_the_loopback_address(scraping: Scraping) -> None:
    status, _, _ = await scraping.get()
    assert status == 200  # loopback, no credentials
    for role in ("admin", "auditor"):
        status, body, _ = await scraping.get(scraping.tokens[role])
        assert status == 200, (role, body)
        assert "surveil_volume_free_bytes" in str(body)
    status, body, challenge = await scraping.get("not-a-token")
    assert (status, _code(body)) == (401, "unauthorized")
    assert 'error="invalid_token"' in challenge
    status, body, _ = await scraping.get(scraping.tokens["staff"])
    assert (status, _code(body)) == (403, "forbidden")
    # The refusals are audited, the scrapes are not.
    async with scraping.db.read() as s:
        rows = [e for e in await list_audit(s, limit=100) if e.target == "metrics"]
    assert sorted((e.actor, e.outcome) for e in rows) == [("-", "denied"), ("tok-staff", "denied")]


async def test_a_peer_without_a_loopback_address_needs_a_token(scraping: Scraping) -> None:
    """Over a Unix socket the peer has no address: without credentials it is refused."""
    with tempfile.TemporaryDirectory(prefix="h2m-") as tmp:  # short: a socket path is short
        path = str(Path(tmp) / "s")
        runner = web.AppRunner(scraping.app)
        await runner.setup()
        try:
            await web.UnixSite(runner, path).start()
            connector = aiohttp.UnixConnector(path=path)
            async with aiohttp.ClientSession(connector=connector) as http:
                async with http.get("http://surveil/metrics") as resp:
                    body = await resp.json()
                    assert (resp.status, body["error"]["code"]) == (401, "unauthorized")
                    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="surveil"'
                auth = {"Authorization": f"Bearer {scraping.tokens['auditor']}"}
                async with http.get("http://surveil/metrics", headers=auth) as resp:
                    assert resp.status == 200
                auth = {"Authorization": f"Bearer {scraping.tokens['staff']}"}
                async with http.get("http://surveil/metrics", headers=auth) as resp:
                    assert resp.status == 403
        finally:
            await runner.cleanup()


def _who(role: str) -> Principal:
    return Principal(kind="token", name=f"tok-{role}", role=role)


@pytest.mark.parametrize(
    "peer", ["127.0.0.1", "127.0.0.2", "127.255.0.9", "::1", "::ffff:127.0.0.1"]
)
def test_loopback_peers_may_scrape_without_credentials(peer: str) -> None:
    assert is_loopback(peer)
    assert scrape_refusal(peer, None) is None


@pytest.mark.parametrize(
    "peer", ["10.0.0.5", "192.168.1.20", "::ffff:10.0.0.5", "fe80::1", "2001:db8::1", "", None]
)
def test_other_peers_need_credentials(peer: str | None) -> None:
    assert not is_loopback(peer)
    assert isinstance(scrape_refusal(peer, None), Unauthorized)
    assert isinstance(scrape_refusal(peer, _who("staff")), Forbidden)
    assert scrape_refusal(peer, _who("admin")) is None
    assert scrape_refusal(peer, _who("auditor")) is None


def test_staff_are_refused_from_loopback_too() -> None:
    assert isinstance(scrape_refusal("127.0.0.1", _who("staff")), Forbidden)


# -- sources that fail ----------------------------------------------------------------------


class Broken:
    """A source that raises at every scrape."""

    def collect_metrics(self) -> Iterable[Metric]:
        raise OSError("the transfer queue cannot be read")


class Clashing:
    """A source that exports a name the volumes already export."""

    def collect_metrics(self) -> Iterable[Metric]:
        return [GaugeMetricFamily("surveil_volume_free_bytes", "again", value=1)]


class Hanging:
    """A source that blocks until released, like statvfs on a dead network mount."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def collect_metrics(self) -> Iterable[Metric]:
        self.calls += 1
        self.release.wait(30)
        return []


async def test_a_failing_source_costs_only_its_own_metrics(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sources: list[MetricsSource] = [Broken(), Clashing()]
    app = create_app(db, NoStatus(), tmp_path, FakeClock(T0), metrics_sources=sources)
    async with _client(app) as client:
        for scrape in (1, 2):
            resp = await client.get("/metrics")
            assert resp.status == 200
            found = samples(await resp.text())
            assert value(found, "surveil_volume_free_bytes", volume="main") > 0
            assert value(found, "surveil_metrics_source_errors_total", source="Broken") == scrape
            assert value(found, "surveil_metrics_source_errors_total", source="Clashing") == scrape
            assert value(found, "surveil_metrics_source_errors_total", source="DiskMetrics") == 0
    failed = [r for r in caplog.records if "failed; its metrics are left out" in r.getMessage()]
    assert sorted(r.getMessage().split()[2] for r in failed) == ["Broken", "Clashing"]  # once


async def test_a_hanging_source_times_out_the_scrape_not_the_service(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_metrics, "SCRAPE_TIMEOUT_S", 0.5)
    hanging = Hanging()
    app = create_app(db, NoStatus(), tmp_path, FakeClock(T0), metrics_sources=[hanging])
    async with _client(app) as client:
        try:
            both = await asyncio.gather(client.get("/metrics"), client.get("/metrics"))
            for resp in both:
                assert resp.status == 503
                assert (await resp.json())["error"]["code"] == "metrics_timeout"
            # The loop kept serving meanwhile, and the second scrape did not start a thread.
            assert (await client.get("/api/v1/health")).status == 200
            assert hanging.calls == 1
        finally:
            hanging.release.set()
        await wait_for(_answers(client), 5, "a scrape once the source is released")


def _answers(client: TestClient[Any, Any]) -> Any:
    async def ok() -> bool:
        return (await client.get("/metrics")).status == 200

    return ok
