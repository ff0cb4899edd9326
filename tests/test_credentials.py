"""Camera passwords at rest: the key file, round trips, tampering, and the index never
holding the key or the password."""

from __future__ import annotations

import logging
import os
import stat
import threading
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text

from cameras.credentials import KEY_FILE, CredentialBox, CredentialError
from cameras.urls import redact_url, url_secrets
from index.cameras import CameraSpec, create_api_camera, ensure_camera
from index.db import Database
from index.errors import InvalidRecord
from index.records import CameraRecord
from surveil.camera_setup import split_credentials, stream_url
from surveil.config import ConfigError
from surveil.logs import RedactingFilter
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


# -- passwords in a URL's query string (issue 8, item 10) ----------------------------------

QUERY_PASSWORD = "q-Canary&9=x%"
QUERY_URL = "rtsp://10.0.0.5:554/live/ch0?user=admin&password=q-Canary%269%3Dx%25&channel=1"


def test_redaction_covers_secret_query_parameters() -> None:
    for name in ("password", "PWD", "passwd", "Pass", "token", "p%61ssword"):
        url = f"rtsp://10.0.0.5/s?user=admin&{name}=S3cret-1&ch=1"
        assert redact_url(url) == f"rtsp://10.0.0.5/s?user=admin&{name}=***&ch=1", name
    # In free text a value runs to the next '&', '#', space or quote: rather too much.
    text = "cannot open rtsp://u:pw@h/s?token=T0k-1: 401; again 'rtsp://h/x?a=1&pwd=P-2'"
    redacted = "cannot open rtsp://***@h/s?token=*** 401; again 'rtsp://h/x?a=1&pwd=***'"
    assert redact_url(text) == redacted
    # Parameters that are not secrets are kept, and so is a name that only contains one.
    kept = "rtsp://h/s?user=admin&passport=1&tokens=2&channel=3"
    assert redact_url(kept) == kept
    assert set(url_secrets(QUERY_URL)) == {"q-Canary%269%3Dx%25", QUERY_PASSWORD}


def test_log_lines_are_redacted_and_free_of_control_characters() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "%s: cannot open %s", ("cam\x1b[31m", QUERY_URL), None
    )
    assert RedactingFilter().filter(record)
    message = record.getMessage()
    assert "Canary" not in message and "\x1b" not in message and "\\x1b" in message
    assert "password=***" in message


def test_a_query_password_is_moved_out_of_the_url_and_put_back_in_memory(tmp_path: Path) -> None:
    split = split_credentials(QUERY_URL)
    assert split.url == "rtsp://10.0.0.5:554/live/ch0?user=admin&password=***&channel=1"
    assert split.password == QUERY_PASSWORD and split.username is None
    assert not split.placeholder
    assert split_credentials(split.url).placeholder  # *** means "the stored password"
    # The same password in userinfo and query is one password; two different ones are refused.
    same = split_credentials("rtsp://u:p1@h/s?pwd=p1")
    assert same.password == "p1" and same.url == "rtsp://h/s?pwd=***"
    with pytest.raises(ValueError, match="two different passwords") as info:
        split_credentials("rtsp://u:p1@h/s?pwd=p2")
    assert "p1" not in str(info.value) and "p2" not in str(info.value)

    box = CredentialBox.open(tmp_path)
    record = CameraRecord(
        id=1,
        name="q",
        source_url=split.url,
        enabled=True,
        counters=(),
        created_us=0,
        origin="api",
        secret_enc=box.encrypt(QUERY_PASSWORD),
    )
    opened = stream_url(record, box)
    assert (
        opened == "rtsp://10.0.0.5:554/live/ch0?user=admin&password=q-Canary%269%3Dx%25&channel=1"
    )
    assert parse_qs(urlsplit(opened).query)["password"] == [QUERY_PASSWORD]
    with_user = stream_url(replace(record, username="ad min"), box)
    assert with_user.startswith("rtsp://ad%20min:q-Canary%269%3Dx%25@10.0.0.5:554/")
    assert "user=admin&password=q-Canary%269%3Dx%25&channel=1" in with_user


async def test_the_index_refuses_a_query_password_in_clear(db: Database, tmp_path: Path) -> None:
    with pytest.raises(InvalidRecord, match="must not carry credentials"):
        await db.write(
            lambda s: create_api_camera(s, CameraSpec(name="c1", source_url=QUERY_URL), 1)
        )
    placeholder = split_credentials(QUERY_URL).url
    with pytest.raises(InvalidRecord, match="no password is set"):
        await db.write(
            lambda s: create_api_camera(s, CameraSpec(name="c2", source_url=placeholder), 1)
        )
    # A config camera's URL comes from the config file; its row keeps no query password.
    await db.write(lambda s: ensure_camera(s, "cfg", QUERY_URL, [], True, 1))
    async with db.read() as s:
        dump = "\n".join(repr(tuple(r)) for r in await s.execute(text("SELECT * FROM cameras")))
    assert "Canary" not in dump and "password=***" in dump


async def test_a_probe_result_with_a_query_password_is_refused_by_the_index(db: Database) -> None:
    """store_probe (the ONVIF re-probe following a moved stream URI) checks credentials in the
    URL as validate_spec does: userinfo and secret query values alike."""
    from index.cameras import store_probe

    record = await db.write(
        lambda s: create_api_camera(s, CameraSpec(name="moved", source_url="rtsp://h/s"), 1)
    )
    for url in (QUERY_URL, "rtsp://u:p@h/s2", "rtsp://h/s3?Token=abc"):
        with pytest.raises(InvalidRecord, match="must not carry credentials"):
            await db.write(lambda s, url=url: store_probe(s, record.id, {}, None, 2, url))
    async with db.read() as s:
        dump = "\n".join(repr(tuple(r)) for r in await s.execute(text("SELECT * FROM cameras")))
    assert "Canary" not in dump and "abc" not in dump and "rtsp://h/s'" in dump
    moved = await db.write(lambda s: store_probe(s, record.id, {}, None, 3, "rtsp://h/new"))
    assert moved.source_url == "rtsp://h/new"
