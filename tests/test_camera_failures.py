"""Cameras that fail in ways a real RTSP server never does: silence and garbage.

Real local servers on 127.0.0.1: one accepts the connection and never answers, one answers
with something that is not RTSP (an HTTP reply followed by an endless stream of text, which
kept FFmpeg reading for minutes). Each camera must be `offline` after its first failed
attempt, with the real reason, and stay offline (never flip back to `connecting`) while it
keeps failing.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cameras.rtsp import RtspSource
from cameras.source import CameraError
from index.events import list_events
from surveil.service import Service
from tests.harness import make_config, wait_for
from tests.test_cameras_api import api  # noqa: F401

TIMEOUT_S = 1.0


class _Server:
    """A TCP server on 127.0.0.1 that hands every connection to `serve` in a thread."""

    def __init__(self, serve: Callable[[socket.socket, threading.Event], None]) -> None:
        self._serve = serve
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/stream"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, self._stop), daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()


def _silent(conn: socket.socket, stop: threading.Event) -> None:
    # Accept, read whatever comes, answer nothing, keep the connection open.
    conn.settimeout(0.2)
    while not stop.is_set():
        try:
            if conn.recv(4096) == b"":
                return
        except TimeoutError:
            continue
        except OSError:
            return


def _garbage(conn: socket.socket, stop: threading.Event) -> None:
    # An HTTP answer to the RTSP request, then text lines without end: FFmpeg's RTSP
    # reader takes them for header lines and never gives up.
    try:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        while not stop.is_set():
            conn.sendall(b"X-Nonsense: hello world\r\n" * 64)
            time.sleep(0.01)
    except OSError:
        return


@pytest.fixture
def servers() -> Iterator[Callable[[Callable[[socket.socket, threading.Event], None]], _Server]]:
    made: list[_Server] = []

    def make(serve: Callable[[socket.socket, threading.Event], None]) -> _Server:
        server = _Server(serve)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.mark.parametrize(
    ("serve", "reason"),
    [(_silent, f"timeout: no answer within {TIMEOUT_S:g} s"), (_garbage, "not an RTSP server")],
    ids=["silent", "garbage"],
)
def test_rtsp_source_names_the_real_reason(
    servers: Any, serve: Callable[[socket.socket, threading.Event], None], reason: str
) -> None:
    server = servers(serve)
    source = RtspSource(server.url, timeout_s=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(CameraError) as caught:
        source.open()
    took = time.monotonic() - started
    source.close()
    assert str(caught.value).startswith(reason), str(caught.value)
    assert "Invalid data" not in str(caught.value)
    assert took < TIMEOUT_S + 1.5, f"open() took {took:.1f} s"


async def test_failing_cameras_are_offline_with_the_real_reason(
    servers: Any, service_factory: Any, tmp_path: Path
) -> None:
    silent = servers(_silent)
    garbage = servers(_garbage)
    cfg = make_config(
        tmp_path / "data",
        None,
        [{"name": "silent", "url": silent.url}, {"name": "garbage", "url": garbage.url}],
        rtsp_timeout_seconds=TIMEOUT_S,
        reconnect_max_seconds=0.5,
        reconnect_initial_seconds=0.25,
    )
    started = time.monotonic()
    service: Service = await service_factory(cfg)
    assert service.supervisor is not None
    recorders = service.supervisor.recorders
    expected = {
        "silent": f"timeout: no answer within {TIMEOUT_S:g} s",
        "garbage": "not an RTSP server",
    }

    def offline(name: str) -> bool:
        st = recorders[name].status()
        return st.state == "offline" and (st.error or "").startswith(expected[name])

    async def both_offline() -> bool:
        return all(offline(name) for name in expected)

    # The first attempt of each ends within the timeout (plus start-up of the service).
    await wait_for(both_offline, TIMEOUT_S + 4, "both cameras offline with their reason")
    assert time.monotonic() - started < TIMEOUT_S + 5
    # They keep failing, and keep saying so: never back to 'connecting' in between.
    seen: dict[str, set[str]] = {name: set() for name in expected}
    errors: dict[str, set[str | None]] = {name: set() for name in expected}
    end = time.monotonic() + 3 * TIMEOUT_S
    while time.monotonic() < end:
        for name in expected:
            st = recorders[name].status()
            seen[name].add(st.state)
            errors[name].add(st.error)
        await asyncio.sleep(0.02)
    assert seen == {"silent": {"offline"}, "garbage": {"offline"}}, seen
    for name in expected:
        assert all((e or "").startswith(expected[name]) for e in errors[name]), errors[name]
    assert silent.connections >= 2 and garbage.connections >= 2, "they are retried"

    # The event log says the same, once per reason (not on every attempt).
    assert service.db is not None
    async with service.db.read() as s:
        events = await list_events(s, kind="connect_failed")
    reasons = sorted(str(e.detail["reason"]) for e in events)
    assert len(reasons) == 2, reasons
    assert reasons[0].startswith("not an RTSP server")
    assert reasons[1].startswith(expected["silent"])


@pytest.mark.parametrize(
    ("serve", "status", "code", "reason"),
    [
        (_silent, 504, "camera_unreachable", "timeout: no answer"),
        (_garbage, 502, "camera_rejected", "not an RTSP server"),
    ],
    ids=["silent", "garbage"],
)
async def test_test_connection_names_the_real_reason(
    servers: Any,
    api: Any,  # noqa: F811
    serve: Callable[[socket.socket, threading.Event], None],
    status: int,
    code: str,
    reason: str,
) -> None:
    """The "test connection" preview of such a camera says why, quickly, with the status
    of its kind (a timeout is a gateway timeout, a wrong server a bad gateway)."""
    server = servers(serve)
    a = await api()
    started = time.monotonic()
    got, body = await a.call("POST", "/api/v1/camera-probes", {"url": server.url})
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["error"]["message"].startswith(reason), body
    assert time.monotonic() - started < 10
