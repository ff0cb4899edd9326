"""Real RTSP test cameras: a GstRtspServer subprocess per camera, plus pytest fixtures.

The server script needs the Debian interpreter (the only one with GStreamer bindings), so it
runs as a child process; this module runs under the test interpreter and manages it.

Register with ``pytest_plugins = ["tests.cameras"]`` (or ``-p tests.cameras``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pytest

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().parent / "camsrv" / "rtsp_camera.py"
HOST = "127.0.0.1"
READY_TIMEOUT_S = 10.0


class CameraStartError(RuntimeError):
    """The camera server did not report READY."""


class ProbeError(RuntimeError):
    """ffprobe could not read the stream; the message holds ffprobe's stderr."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def gst_available() -> bool:
    """True if the Debian interpreter can import the GstRtspServer bindings."""
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    code = "import gi; gi.require_version('GstRtspServer', '1.0')"
    return subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True).returncode == 0


@dataclass
class RtspCamera:
    """One fake camera process on a fixed port; start/stop/kill/freeze/thaw/restart it."""

    log_dir: Path
    port: int = field(default_factory=free_port)
    video: str = "h264"
    audio: str = "aac"
    fps: int = 25
    gop: int | None = None
    width: int = 320
    height: int = 240
    bitrate: int = 300
    user: str | None = None
    password: str | None = None
    auth_method: str = "digest"
    mount: str = "/stream"
    pattern: str = "ball"
    shared: bool = True
    name: str = "cam"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def log_path(self) -> Path:
        return Path(self.log_dir) / f"{self.name}-{self.port}.log"

    @property
    def url_without_credentials(self) -> str:
        return f"rtsp://{HOST}:{self.port}{self.mount}"

    @property
    def url(self) -> str:
        """The URL a client should use; includes percent-encoded credentials when set."""
        if self.user is None:
            return self.url_without_credentials
        return self.url_with(self.user, self.password or "")

    def url_with(self, user: str, password: str) -> str:
        """The URL with arbitrary (e.g. wrong) credentials."""
        cred = f"{quote(user, safe='')}:{quote(password, safe='')}"
        return f"rtsp://{cred}@{HOST}:{self.port}{self.mount}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the process exists (also when frozen)."""
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        cmd = [
            SYSTEM_PYTHON, str(SERVER_SCRIPT),
            "--port", str(self.port), "--host", HOST, "--mount", self.mount,
            "--video", self.video, "--audio", self.audio,
            "--fps", str(self.fps), "--gop", str(self.gop or self.fps),
            "--width", str(self.width), "--height", str(self.height),
            "--bitrate", str(self.bitrate), "--pattern", self.pattern,
            "--shared" if self.shared else "--no-shared",
        ]  # fmt: skip
        if self.user is not None:
            cmd += ["--user", self.user, "--password", self.password or "",
                    "--auth-method", self.auth_method]  # fmt: skip
        return cmd

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> RtspCamera:
        """Start the server and wait for its READY line; raise CameraStartError otherwise."""
        if self.alive:
            raise CameraStartError(f"{self.name}: already running (pid {self.pid})")
        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        self._close_log()
        # A file, not a pipe: nobody drains the pipe during a long test, and a full pipe
        # would block the server. Appending keeps the history across restarts.
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        offset = self._log.tell()
        env = dict(os.environ)
        env.setdefault("GST_DEBUG", "1")
        # Keep the pyenv interpreter's settings out of the system interpreter.
        for var in ("PYTHONPATH", "PYTHONHOME", "PYENV_VERSION"):
            env.pop(var, None)
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=env, cwd=str(self.log_dir),
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            text = self._read_log(offset)
            if "READY rtsp://" in text:
                return self
            if self._proc.poll() is not None:
                rc = self._proc.returncode
                self._proc = None
                raise CameraStartError(f"{self.name}: server exited with {rc}:\n{text[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise CameraStartError(f"{self.name}: no READY in {timeout_s}s:\n{text[-4000:]}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time. Safe to call when stopped."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen process would never act on SIGTERM
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._proc = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL: the camera vanishes without closing RTSP sessions."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._proc = None
        self._close_log()

    def freeze(self) -> None:
        """SIGSTOP: sockets stay open but nothing is sent (a hung camera)."""
        self._signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after freeze()."""
        self._signal(signal.SIGCONT)

    def restart(self, attempts: int = 20, delay_s: float = 0.25) -> RtspCamera:
        """Stop if running, then start again on the same port, retrying while it is busy."""
        self.stop()
        last: CameraStartError | None = None
        for _ in range(attempts):
            try:
                return self.start()
            except CameraStartError as exc:
                last = exc
                time.sleep(delay_s)
        assert last is not None
        raise last

    def log_text(self) -> str:
        return self._read_log(0)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            raise RuntimeError(f"{self.name}: not running")
        self._proc.send_signal(sig)

    def _read_log(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> RtspCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def probe(
    url: str, seconds: float = 2.0, io_timeout_s: float = 5.0, timeout_s: float | None = None
) -> dict[str, Any]:
    """Read stream info with ffprobe over RTSP/TCP.

    Returns {"video": codec|None, "audio": codec|None, "streams": [ffprobe stream dicts]};
    raises ProbeError (message = ffprobe stderr, e.g. containing "401") on failure.
    """
    us = str(int(seconds * 1_000_000))
    cmd = [
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp",
        # Socket I/O timeout in µs, so a frozen camera fails the probe instead of hanging it.
        "-timeout", str(int(io_timeout_s * 1_000_000)),
        "-analyzeduration", us, "-probesize", "5000000",
        "-show_streams", "-of", "json", url,
    ]  # fmt: skip
    try:
        res = subprocess.run(
            cmd, capture_output=True, timeout=timeout_s or seconds + io_timeout_s + 10
        )
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(f"ffprobe timed out after {exc.timeout}s") from exc
    err = res.stderr.decode("utf-8", "replace")
    if res.returncode != 0:
        raise ProbeError(err.strip() or f"ffprobe exited with {res.returncode}")
    streams: list[dict[str, Any]] = json.loads(res.stdout or b"{}").get("streams", [])
    by_type: dict[str, str | None] = {"video": None, "audio": None}
    for s in streams:
        kind = s.get("codec_type")
        if kind in by_type and by_type[kind] is None:
            by_type[kind] = s.get("codec_name")
    return {"video": by_type["video"], "audio": by_type["audio"], "streams": streams}


CameraFactory = Callable[..., RtspCamera]


@pytest.fixture
def rtsp_camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CameraFactory]:
    """Factory: ``cam = rtsp_camera(video="h264", audio="aac", ...)`` returns a started camera.

    Keyword arguments are RtspCamera fields (video, audio, fps, gop, width, height, bitrate,
    user, password, auth_method, mount, pattern, shared, port, name). Every camera is stopped
    at teardown, frozen ones included.
    """
    if not gst_available():
        pytest.fail(
            "GstRtspServer bindings are not available for /usr/bin/python3; "
            "run scripts/setup --test (it installs gir1.2-gst-rtsp-server-1.0 and python3-gi)"
        )
    log_dir = tmp_path_factory.mktemp("cameras")
    cams: list[RtspCamera] = []

    def make(**kwargs: Any) -> RtspCamera:
        kwargs.setdefault("name", f"cam{len(cams)}")
        cam = RtspCamera(log_dir=log_dir, **kwargs)
        cams.append(cam)
        return cam.start()

    yield make
    for cam in cams:
        cam.stop()
