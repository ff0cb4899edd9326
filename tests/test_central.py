"""Central storage targets (surveil/central) against real stores: a SeaweedFS S3 server on
loopback (tests/s3server.py) and a directory on disk. Round trips, refused bodies, wrong
credentials, a server killed mid-upload, objects altered behind the target's back, object lock,
and the shared bandwidth throttle."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from surveil.central import CentralError, StoredObject, Throttle, verify_object
from surveil.central.directory import DirectoryTarget
from surveil.central.s3 import S3Target
from tests.s3server import REGION, SeaweedS3, seaweed

__all__ = ["seaweed"]  # the module-scoped fixture, used by name below

MiB = 1 << 20
TIMEOUT_S = 3.0  # the targets' per-call timeout in these tests: a dead server fails fast


@dataclass(frozen=True)
class Buckets:
    plain: str
    locked: str


@pytest.fixture(scope="module")
def buckets(seaweed: SeaweedS3) -> Buckets:
    return Buckets(
        plain=seaweed.make_bucket("surveil-plain"),
        locked=seaweed.make_bucket("surveil-locked", lock=True),
    )


async def _open(
    server: SeaweedS3,
    bucket: str,
    *,
    prefix: str = "site-a",
    lock_days: int | None = None,
    secret_key: str | None = None,
    endpoint: str | None = None,
    timeout_s: float = TIMEOUT_S,
) -> S3Target:
    return await S3Target.open(
        endpoint=endpoint or server.endpoint,
        bucket=bucket,
        prefix=prefix,
        region=REGION,
        access_key=server.access_key,
        secret_key=secret_key or server.secret_key,
        lock_days=lock_days,
        timeout_s=timeout_s,
    )


@pytest.fixture
async def s3(seaweed: SeaweedS3, buckets: Buckets) -> AsyncIterator[S3Target]:
    target = await _open(seaweed, buckets.plain)
    await target.check()
    yield target
    await target.close()


@pytest.fixture
async def raw(seaweed: SeaweedS3) -> AsyncIterator[Any]:
    """A plain aiobotocore client: the store as anyone with the keys sees it."""
    async with get_session().create_client(
        "s3",
        endpoint_url=seaweed.endpoint,
        region_name=REGION,
        aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    ) as client:
        yield client


def _key(name: str = "seg.mp4") -> str:
    return f"segments/cam-{uuid.uuid4().hex[:8]}/2026/12/01/{name}"


def _segment(folder: Path, size: int, name: str = "seg.mp4") -> tuple[Path, str]:
    path = folder / name
    data = os.urandom(size)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


async def _read_all(target: S3Target | DirectoryTarget, key: str) -> bytes:
    return b"".join([chunk async for chunk in target.read(key)])


# --- S3 -------------------------------------------------------------------------------------


class CountingThrottle(Throttle):
    """No limit; counts the bytes a target asked to send."""

    def __init__(self) -> None:
        super().__init__(None)
        self.taken = 0

    async def take(self, n: int) -> None:
        self.taken += n


async def test_s3_round_trip(s3: S3Target, tmp_path: Path, seaweed: SeaweedS3, raw: Any) -> None:
    size = 5 * MiB + 123
    path, sha = _segment(tmp_path, size)
    key = _key()
    counted = CountingThrottle()
    stored = await s3.put_file(key, path, sha256=sha, size=size, throttle=counted)
    assert stored == StoredObject(key=f"site-a/{key}", size=size, sha256=sha, retain_until_us=None)
    assert counted.taken == size
    assert await s3.head(key) == stored
    assert await _read_all(s3, key) == path.read_bytes()
    assert await verify_object(s3, key, sha, size) is None
    # The store itself kept the SHA-256 it checked the body against, and our metadata copy.
    reply = await raw.head_object(Bucket=s3.bucket, Key=stored.key, ChecksumMode="ENABLED")
    assert base64.b64decode(reply["ChecksumSHA256"]).hex() == sha
    assert reply["Metadata"]["sha256"] == sha and reply["ContentType"] == "video/mp4"
    # A retry after a lost answer is the same confirmation, without a second upload.
    again = CountingThrottle()
    assert await s3.put_file(key, path, sha256=sha, size=size, throttle=again) == stored
    assert again.taken == 0
    assert s3.name == f"s3 {seaweed.endpoint} surveil-plain/site-a/"
    assert seaweed.secret_key not in s3.name and seaweed.access_key not in s3.name


async def test_s3_head_and_read_of_an_absent_key(s3: S3Target) -> None:
    key = _key()
    assert await s3.head(key) is None
    with pytest.raises(CentralError) as caught:
        await _read_all(s3, key)
    assert caught.value.code == "central_not_found"
    assert await verify_object(s3, key, "0" * 64, 1) == f"{key} is absent from {s3.name}"


async def test_s3_put_bytes(s3: S3Target, raw: Any) -> None:
    data = b'{"run": 7, "segments": 3}\n'
    key = f"manifests/{uuid.uuid4().hex}.json"
    stored = await s3.put_bytes(key, data, content_type="application/json")
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert await s3.head(key) == stored
    reply = await raw.head_object(Bucket=s3.bucket, Key=stored.key)
    assert reply["ContentType"] == "application/json"
    assert reply["Metadata"]["sha256"] == stored.sha256


async def test_s3_wrong_sha256_is_refused_and_nothing_is_left(s3: S3Target, tmp_path: Path) -> None:
    path, sha = _segment(tmp_path, 3 * MiB)
    wrong = hashlib.sha256(b"another segment").hexdigest()
    key = _key()
    with pytest.raises(CentralError) as caught:
        await s3.put_file(key, path, sha256=wrong, size=3 * MiB)
    assert caught.value.code == "central_checksum"
    assert sha in caught.value.message and wrong in caught.value.message
    assert await s3.head(key) is None
    assert await verify_object(s3, key, wrong, 3 * MiB) is not None
    # A size that is not the file's is refused the same way.
    with pytest.raises(CentralError) as caught:
        await s3.put_file(key, path, sha256=sha, size=3 * MiB - 1)
    assert caught.value.code == "central_checksum"
    assert await s3.head(key) is None


async def test_seaweedfs_verifies_the_sha256_header_itself(s3: S3Target, raw: Any) -> None:
    """What the design note says of SeaweedFS: a body that does not match x-amz-checksum-sha256
    is refused (BadDigest) and not stored, and the target calls that central_checksum."""
    key = f"{s3.prefix}{_key()}"
    body = b"the body the store receives"
    claimed = hashlib.sha256(b"the body we meant").digest()

    with pytest.raises(ClientError) as caught:
        await raw.put_object(
            Bucket=s3.bucket, Key=key, Body=body, ChecksumSHA256=base64.b64encode(claimed).decode()
        )
    assert caught.value.response["Error"]["Code"] == "BadDigest"
    assert s3._error(caught.value, "upload").code == "central_checksum"
    with pytest.raises(ClientError):
        await raw.head_object(Bucket=s3.bucket, Key=key)


async def test_s3_wrong_credentials(seaweed: SeaweedS3, buckets: Buckets, tmp_path: Path) -> None:
    wrong = "not-the-secret-" + seaweed.secret_key[::-1]
    target = await _open(seaweed, buckets.plain, secret_key=wrong)
    path, sha = _segment(tmp_path, 64 * 1024)
    try:
        with pytest.raises(CentralError) as checked:
            await target.check()
        with pytest.raises(CentralError) as put:
            await target.put_file(_key(), path, sha256=sha, size=64 * 1024)
    finally:
        await target.close()
    for caught in (checked, put):
        assert caught.value.code == "central_auth"
        assert "credentials were refused" in caught.value.message
        for secret in (wrong, seaweed.secret_key, seaweed.access_key):
            assert secret not in str(caught.value)


async def test_s3_missing_bucket_and_dead_endpoint(seaweed: SeaweedS3) -> None:
    target = await _open(seaweed, "no-such-bucket")
    try:
        with pytest.raises(CentralError) as caught:
            await target.check()
        assert caught.value.code == "central_config"
    finally:
        await target.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    target = await _open(seaweed, "surveil-plain", endpoint=f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(CentralError) as caught:
            await target.check()
        assert caught.value.code == "central_unreachable"
    finally:
        await target.close()


async def test_s3_endpoint_with_credentials_is_refused(seaweed: SeaweedS3) -> None:
    with pytest.raises(CentralError) as caught:
        await _open(seaweed, "surveil-plain", endpoint="http://user:pw@127.0.0.1:1")
    assert caught.value.code == "central_config" and "pw" not in str(caught.value)


async def test_s3_server_killed_mid_upload_then_resumed(
    seaweed: SeaweedS3, buckets: Buckets, tmp_path: Path
) -> None:
    size = 8 * MiB
    path, sha = _segment(tmp_path, size)
    key = _key()
    target = await _open(seaweed, buckets.plain)
    try:
        await target.check()
        throttle = Throttle(2 * MiB, burst=256 * 1024)  # about 4 s for the file
        upload = asyncio.create_task(
            target.put_file(key, path, sha256=sha, size=size, throttle=throttle)
        )
        await asyncio.sleep(1.0)
        assert not upload.done(), "the upload must be in flight when the server dies"
        seaweed.kill()
        killed = time.monotonic()
        try:
            with pytest.raises(CentralError) as caught:
                await asyncio.wait_for(upload, 4 * TIMEOUT_S + 10)
            assert caught.value.code == "central_unreachable"
            assert time.monotonic() - killed < 2 * TIMEOUT_S + 5
        finally:
            seaweed.start()
        stored = await target.put_file(key, path, sha256=sha, size=size)
        assert stored.size == size and stored.sha256 == sha
        assert await verify_object(target, key, sha, size) is None
    finally:
        await target.close()


async def test_s3_server_that_stops_answering(
    seaweed: SeaweedS3, buckets: Buckets, tmp_path: Path
) -> None:
    """A server frozen mid-upload (SIGSTOP: the kernel still accepts connections and buffers
    bytes, then the body's writes block) gives central_unreachable within a bound, for the upload
    and for a look-up; aiohttp alone would wait for ever on the blocked write."""
    size = 64 * MiB  # more than loopback's socket buffers hold
    path, sha = _segment(tmp_path, size)
    timeout_s = 1.0
    target = await _open(seaweed, buckets.plain, prefix="frozen", timeout_s=timeout_s)
    assert seaweed.pid is not None
    try:
        await target.check()
        throttle = Throttle(16 * MiB, burst=256 * 1024)  # about 4 s for the file
        upload = asyncio.create_task(
            target.put_file(_key(), path, sha256=sha, size=size, throttle=throttle)
        )
        await asyncio.sleep(0.5)
        assert not upload.done(), "the upload must be in flight when the server freezes"
        os.kill(seaweed.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            results = await asyncio.wait_for(  # a guard: the bound asserted below is tighter
                asyncio.gather(upload, target.head(_key()), return_exceptions=True), 30
            )
        finally:
            os.kill(seaweed.pid, signal.SIGCONT)
        # The stall timer is (attempts + 1) × timeout from the last chunk that went out.
        assert time.monotonic() - frozen < 3 * timeout_s + 3
        for result in results:
            assert isinstance(result, CentralError), result
            assert result.code == "central_unreachable"
    finally:
        await target.close()


async def test_s3_object_altered_on_the_server(s3: S3Target, raw: Any, tmp_path: Path) -> None:
    path, sha = _segment(tmp_path, 2 * MiB)
    intact, same_size, shorter = _key("a.mp4"), _key("b.mp4"), _key("c.mp4")
    for key in (intact, same_size, shorter):
        await s3.put_file(key, path, sha256=sha, size=2 * MiB)
    other = bytearray(path.read_bytes())
    other[MiB] ^= 0xFF  # one bit pattern changed in the middle
    await raw.put_object(Bucket=s3.bucket, Key=s3.full_key(same_size), Body=bytes(other))
    await raw.put_object(Bucket=s3.bucket, Key=s3.full_key(shorter), Body=bytes(other[:-1]))
    assert await verify_object(s3, intact, sha, 2 * MiB) is None
    changed = await verify_object(s3, same_size, sha, 2 * MiB)
    assert changed is not None and "SHA-256" in changed and sha in changed
    cut = await verify_object(s3, shorter, sha, 2 * MiB)
    assert cut is not None and f"is {2 * MiB - 1} bytes, expected {2 * MiB}" in cut
    # The store now reports what it holds, not what was uploaded.
    assert (await s3.head(same_size)) != (await s3.head(intact))


async def test_s3_object_lock_compliance(
    seaweed: SeaweedS3, buckets: Buckets, raw: Any, tmp_path: Path
) -> None:
    target = await _open(seaweed, buckets.locked, lock_days=2)
    path, sha = _segment(tmp_path, 300 * 1024)
    key = _key()
    try:
        await target.check()
        assert target.object_lock
        before_us = time.time_ns() // 1000
        stored = await target.put_file(key, path, sha256=sha, size=300 * 1024)
        note = await target.put_bytes(
            f"checkpoints/{uuid.uuid4().hex}", b"note\n", content_type="text/plain"
        )
    finally:
        await target.close()
    two_days_us = 2 * 86_400 * 1_000_000
    for obj in (stored, note):
        assert obj.retain_until_us is not None
        assert abs(obj.retain_until_us - (before_us + two_days_us)) < 120 * 1_000_000
    reply = await raw.head_object(Bucket=buckets.locked, Key=stored.key)
    assert reply["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError) as refused:
        await raw.delete_object(Bucket=buckets.locked, Key=stored.key, VersionId=reply["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    again = await raw.head_object(
        Bucket=buckets.locked, Key=stored.key, VersionId=reply["VersionId"]
    )
    assert again["ContentLength"] == 300 * 1024


async def test_s3_no_lock_without_a_locked_bucket(seaweed: SeaweedS3, buckets: Buckets) -> None:
    target = await _open(seaweed, buckets.plain, lock_days=2)
    try:
        await target.check()
        assert not target.object_lock
        stored = await target.put_bytes(_key("n.json"), b"{}", content_type="application/json")
        assert stored.retain_until_us is None
    finally:
        await target.close()
    target = await _open(seaweed, buckets.locked, lock_days=None)
    try:
        await target.check()
        assert not target.object_lock  # lock days not set: no retention asked for
    finally:
        await target.close()


async def test_s3_upload_is_throttled(s3: S3Target, tmp_path: Path) -> None:
    size = 2 * MiB
    path, sha = _segment(tmp_path, size)
    throttle = Throttle(2 * MiB, burst=256 * 1024)
    started = time.monotonic()
    await s3.put_file(_key(), path, sha256=sha, size=size, throttle=throttle)
    assert time.monotonic() - started >= (size - 256 * 1024) / (2 * MiB)


# --- the throttle ---------------------------------------------------------------------------


async def test_throttle_lower_bound() -> None:
    rate, burst, total, chunk = 4 * MiB, MiB, 3 * MiB, 256 * 1024
    throttle = Throttle(rate, burst=burst)
    started = time.monotonic()
    for _ in range(total // chunk):
        await throttle.take(chunk)
    assert time.monotonic() - started >= (total - burst) / rate
    unlimited = Throttle(None)
    started = time.monotonic()
    await unlimited.take(1 << 40)
    assert time.monotonic() - started < 0.5


async def test_throttle_is_shared_and_fair() -> None:
    rate, burst, chunk, tasks, per_task = 4 * MiB, 256 * 1024, 128 * 1024, 3, 8
    throttle = Throttle(rate, burst=burst)
    granted: list[int] = []

    async def sender(n: int) -> None:
        for _ in range(per_task):
            await throttle.take(chunk)
            granted.append(n)

    started = time.monotonic()
    await asyncio.gather(*(sender(n) for n in range(tasks)))
    total = tasks * per_task * chunk
    assert time.monotonic() - started >= (total - burst) / rate
    # First come, first served: while every sender still has chunks to send, none gets ahead of
    # another by more than the burst's worth (plus the chunk that went into debt).
    counts = [0] * tasks
    for n in granted:
        counts[n] += 1
        if max(counts) == per_task:
            break
        assert max(counts) - min(counts) <= burst // chunk + 1, granted


# --- the directory target -------------------------------------------------------------------


@pytest.fixture
def central_dir(tmp_path: Path) -> Iterator[DirectoryTarget]:
    root = tmp_path / "central"
    root.mkdir()
    yield DirectoryTarget(root, timeout_s=10.0)


async def test_dir_round_trip(central_dir: DirectoryTarget, tmp_path: Path) -> None:
    await central_dir.check()
    assert not central_dir.object_lock
    path, sha = _segment(tmp_path, 3 * MiB + 5)
    key = _key()
    stored = await central_dir.put_file(key, path, sha256=sha, size=3 * MiB + 5)
    assert stored == StoredObject(key=key, size=3 * MiB + 5, sha256=sha, retain_until_us=None)
    assert await central_dir.head(key) == stored
    assert await _read_all(central_dir, key) == path.read_bytes()
    assert await verify_object(central_dir, key, sha, 3 * MiB + 5) is None
    on_disk = central_dir.root / key
    assert on_disk.read_bytes() == path.read_bytes()
    assert (on_disk.parent / "seg.mp4.sha256").read_text() == f"{sha}  seg.mp4\n"
    assert sorted(p.name for p in on_disk.parent.iterdir()) == ["seg.mp4", "seg.mp4.sha256"]
    assert central_dir.name == f"dir {central_dir.root}"


async def test_dir_put_bytes_and_absent(central_dir: DirectoryTarget) -> None:
    data = b"surveil.example/log\n42\n"
    stored = await central_dir.put_bytes("checkpoints/42.note", data, content_type="text/plain")
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert await central_dir.head("checkpoints/42.note") == stored
    assert await central_dir.head("checkpoints/43.note") is None
    with pytest.raises(CentralError) as caught:
        await _read_all(central_dir, "checkpoints/43.note")
    assert caught.value.code == "central_not_found"


async def test_dir_wrong_sha256_leaves_nothing(
    central_dir: DirectoryTarget, tmp_path: Path
) -> None:
    path, _ = _segment(tmp_path, MiB)
    wrong = hashlib.sha256(b"x").hexdigest()
    key = _key()
    with pytest.raises(CentralError) as caught:
        await central_dir.put_file(key, path, sha256=wrong, size=MiB)
    assert caught.value.code == "central_checksum"
    assert await central_dir.head(key) is None
    folder = (central_dir.root / key).parent
    assert list(folder.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize(
    "key",
    [
        "../escape.mp4",
        "segments/../../escape.mp4",
        "/etc/passwd",
        "a/\x00b",
        "a//b",
        "a/./b",
        "",
        "segments/x.mp4.sha256",
        "segments/x.mp4.tmp-1234",
    ],
)
async def test_dir_refuses_unsafe_keys(central_dir: DirectoryTarget, key: str) -> None:
    with pytest.raises(CentralError) as caught:
        await central_dir.put_bytes(key, b"x", content_type="text/plain")
    assert caught.value.code == "central_config"
    assert not (central_dir.root.parent / "escape.mp4").exists()


async def test_dir_identical_reput_ok_differing_refused(
    central_dir: DirectoryTarget, tmp_path: Path
) -> None:
    path, sha = _segment(tmp_path, MiB)
    key = _key()
    first = await central_dir.put_file(key, path, sha256=sha, size=MiB)
    (central_dir.root / f"{key}.sha256").unlink()  # as after a crash between file and sidecar
    assert await central_dir.put_file(key, path, sha256=sha, size=MiB) == first
    other, other_sha = _segment(tmp_path, MiB, name="other.mp4")
    with pytest.raises(CentralError) as caught:
        await central_dir.put_file(key, other, sha256=other_sha, size=MiB)
    assert caught.value.code == "central_checksum" and "not overwritten" in caught.value.message
    assert (central_dir.root / key).read_bytes() == path.read_bytes()


async def test_dir_file_edited_on_the_share(central_dir: DirectoryTarget, tmp_path: Path) -> None:
    path, sha = _segment(tmp_path, MiB)
    key = _key()
    await central_dir.put_file(key, path, sha256=sha, size=MiB)
    on_disk = central_dir.root / key
    with on_disk.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02")
    changed = await verify_object(central_dir, key, sha, MiB)
    assert changed is not None and "SHA-256" in changed
    with on_disk.open("ab") as handle:
        handle.write(b"more")
    longer = await verify_object(central_dir, key, sha, MiB)
    assert longer is not None and f"is {MiB + 4} bytes" in longer


async def test_dir_check(tmp_path: Path) -> None:
    with pytest.raises(CentralError) as caught:
        await DirectoryTarget(tmp_path / "missing").check()
    assert caught.value.code == "central_config"
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(CentralError) as caught:
        await DirectoryTarget(tmp_path / "a-file").check()
    assert caught.value.code == "central_config"
    with pytest.raises(CentralError) as caught:
        await DirectoryTarget(Path("/proc")).check()  # a directory nobody can create files in
    assert caught.value.code == "central_io"


async def test_dir_upload_is_throttled(central_dir: DirectoryTarget, tmp_path: Path) -> None:
    size = 2 * MiB
    path, sha = _segment(tmp_path, size)
    throttle = Throttle(4 * MiB, burst=256 * 1024)
    started = time.monotonic()
    await central_dir.put_file(_key(), path, sha256=sha, size=size, throttle=throttle)
    assert time.monotonic() - started >= (size - 256 * 1024) / (4 * MiB)
