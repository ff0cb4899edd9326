"""Camera passwords at rest: the key file, round trips, tampering, and the index never
holding the key or the password."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from cameras.credentials import KEY_FILE, CredentialBox, CredentialError
from index.cameras import CameraSpec, create_api_camera
from index.db import Database
from surveil.config import ConfigError
from surveil.service import Service
from tests.harness import make_config

PASSWORD = "pä$$wörd:with@odd/chars"


def test_round_trip_and_key_file_mode(tmp_path: Path) -> None:
    box = CredentialBox.open(tmp_path / "data")
    token = box.encrypt(PASSWORD)
    assert PASSWORD not in token
    assert box.decrypt(token) == PASSWORD
    key_path = tmp_path / "data" / KEY_FILE
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # No temporary files left behind.
    assert sorted(p.name for p in key_path.parent.iterdir()) == [KEY_FILE]
    # The same key is used on the next start.
    assert CredentialBox.open(tmp_path / "data").decrypt(token) == PASSWORD
    assert "key" in repr(box) and key_path.read_text().strip() not in repr(box)


def test_key_file_created_with_0600_despite_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        CredentialBox.open(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    boxes: list[CredentialBox] = []

    def open_box() -> None:
        boxes.append(CredentialBox.open(tmp_path))

    threads = [threading.Thread(target=open_box) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    token = boxes[0].encrypt("x")
    assert all(b.decrypt(token) == "x" for b in boxes)


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    CredentialBox.open(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(CredentialError, match=r"mode 0644.*chmod 600"):
        CredentialBox.open(tmp_path)


def test_unreadable_or_garbage_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_bytes(b"not a key\n")
    (tmp_path / KEY_FILE).chmod(0o600)
    with pytest.raises(CredentialError, match="does not hold a valid key"):
        CredentialBox.open(tmp_path)
    (tmp_path / KEY_FILE).unlink()
    (tmp_path / KEY_FILE).mkdir()
    with pytest.raises(CredentialError, match="not a regular file"):
        CredentialBox.open(tmp_path)


def test_tampered_or_foreign_ciphertext_is_a_clear_error(tmp_path: Path) -> None:
    box = CredentialBox.open(tmp_path / "a")
    token = box.encrypt(PASSWORD)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(CredentialError, match="cannot be decrypted") as info:
        box.decrypt(tampered)
    assert PASSWORD not in str(info.value)
    other = CredentialBox.open(tmp_path / "b")
    with pytest.raises(CredentialError, match="set the password again"):
        other.decrypt(token)
    with pytest.raises(CredentialError):
        box.decrypt("not even base64 ✓")


async def test_service_refuses_to_start_with_a_world_readable_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    CredentialBox.open(data)
    (data / KEY_FILE).chmod(0o640)
    service = Service(make_config(data, None, []))
    with pytest.raises(ConfigError, match="chmod 600"):
        await service.start()
    assert service.db is None  # refused before opening anything


async def test_the_index_holds_ciphertext_never_the_key_or_password(
    db: Database, tmp_path: Path
) -> None:
    box = CredentialBox.open(tmp_path)
    key = (tmp_path / KEY_FILE).read_text().strip()
    spec = CameraSpec(
        name="cam1",
        source_url="rtsp://127.0.0.1:8554/stream",
        username="operator",
        secret_enc=box.encrypt(PASSWORD),
    )
    await db.write(lambda s: create_api_camera(s, spec, 1))
    async with db.read() as s:
        rows = [repr(tuple(r)) for r in await s.execute(text("SELECT * FROM cameras"))]
    dump = "\n".join(rows)
    assert "operator" in dump and spec.secret_enc is not None and spec.secret_enc in dump
    assert PASSWORD not in dump
    assert key not in dump
