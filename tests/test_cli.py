"""The `surveil` command line, run as a real subprocess (`python -m surveil ...`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from index import segments, tokens
from index.db import Database
from index.users import password_hash_for
from surveil.accounts import token_hash
from surveil.passwords import verify_password

ROOT = Path(__file__).resolve().parent.parent
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{40,}$")


def surveil(
    *args: str, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "surveil", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


async def _token_role(data_dir: Path, token: str) -> str | None:
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        async with db.read() as s:
            found = await tokens.token_by_hash(s, token_hash(token))
    finally:
        await db.close()
    return None if found is None else found.role


async def _password_ok(data_dir: Path, username: str, password: str) -> bool:
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        async with db.read() as s:
            found = await password_hash_for(s, username)
    finally:
        await db.close()
    return found is not None and verify_password(found[1], password)


async def _segment_paths(data_dir: Path) -> list[str]:
    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        async with db.read() as s:
            return [seg.path for seg in await segments.all_segments(s) if seg.state == "sealed"]
    finally:
        await db.close()


def test_token_create_prints_the_token_last(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = surveil(
        "token", "create", "--data", str(data), "--name", "acceptance", "--role", "staff"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    token = lines[-1]
    assert TOKEN_RE.match(token), done.stdout
    assert "staff" in lines[0] and "acceptance" in lines[0]
    assert token not in done.stderr, "the token belongs on stdout only"
    assert asyncio.run(_token_role(data, token)) == "staff"
    # A second token is a different one.
    again = surveil("token", "create", "--data", str(data), "--name", "x", "--role", "admin")
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] != token


def test_user_add_reads_the_password_from_stdin_and_enforces_the_rule(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    done = surveil(
        "user",
        "add",
        "--data",
        data,
        "chief",
        "--role",
        "admin",
        "--password-stdin",
        input="long-enough-secret\n",
    )
    assert done.returncode == 0, done.stderr
    assert "created admin account 'chief'" in done.stdout
    assert "long-enough-secret" not in done.stdout + done.stderr
    assert asyncio.run(_password_ok(tmp_path / "data", "chief", "long-enough-secret"))
    short = surveil(
        "user",
        "add",
        "--data",
        data,
        "wang",
        "--role",
        "staff",
        "--password-stdin",
        input="short\n",
    )
    assert short.returncode == 1 and "10 to 256 characters" in short.stderr
    unknown = surveil(
        "user", "add", "--data", data, "li", "--role", "staff", "--counter", "Z9", "--generate"
    )
    assert unknown.returncode == 1 and "no counter with code 'Z9'" in unknown.stderr
    again = surveil("user", "add", "--data", data, "chief", "--role", "admin", "--generate")
    assert again.returncode == 1 and "already exists" in again.stderr
    changed = surveil("user", "passwd", "--data", data, "chief", "--generate")
    assert changed.returncode == 0, changed.stderr
    new = changed.stdout.strip().splitlines()[-1].rpartition(" ")[2]
    assert asyncio.run(_password_ok(tmp_path / "data", "chief", new))
    assert not asyncio.run(_password_ok(tmp_path / "data", "chief", "long-enough-secret"))


def test_token_create_rejects_an_unknown_role(tmp_path: Path) -> None:
    done = surveil("token", "create", "--data", str(tmp_path), "--name", "x", "--role", "root")
    assert done.returncode == 2
    assert "invalid choice: 'root'" in done.stderr and "admin" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "index.sqlite3").exists()


def test_token_create_refuses_a_control_character_in_the_name(tmp_path: Path) -> None:
    done = surveil(
        "token", "create", "--data", str(tmp_path), "--name", "a\x07b", "--role", "staff"
    )
    assert done.returncode == 1, done.stderr
    assert "surveil: a token's name must be" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_token_create_needs_a_data_dir_or_config() -> None:
    done = surveil("token", "create", "--name", "x", "--role", "admin")
    assert done.returncode == 2
    assert "surveil: give --config FILE or --data DIR" in done.stderr


def test_verify_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    done = surveil("verify", "--config", str(missing))
    assert done.returncode == 2
    assert f"surveil: config file {missing} does not exist" in done.stderr


def test_verify_config_with_unknown_key(tmp_path: Path) -> None:
    conf = tmp_path / "surveil.toml"
    conf.write_text(
        f'data_dir = "{tmp_path}"\n[recording]\nsegment_secs = 10\n'
        '[[cameras]]\nname = "a01"\nurl = "rtsp://u:secretpw@192.0.2.1/"\ncolour = "red"\n',
        encoding="utf-8",
    )
    done = surveil("verify", "--config", str(conf))
    assert done.returncode == 2
    assert "recording.segment_secs: unknown key" in done.stderr
    assert "cameras.0.colour: unknown key" in done.stderr
    assert "secretpw" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_verify_missing_data_dir(tmp_path: Path) -> None:
    done = surveil("verify", "--data", str(tmp_path / "nothing-here"))
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert not (tmp_path / "nothing-here").exists(), "verify must not create what it checks"


def test_no_command_is_a_usage_error() -> None:
    assert surveil().returncode == 2
    version = surveil("--version")
    assert version.returncode == 0 and version.stdout.startswith("surveil ")


# -- a real archive made by `surveil demo` ---------------------------------


@dataclass
class Demo:
    data_dir: Path
    stdout: str
    stderr: str
    returncode: int
    health: dict[str, object]


def _read_lines(stream: object, sink: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`surveil demo` recording 2 s segments for about 7 s, then stopped with SIGINT."""
    data = tmp_path_factory.mktemp("demo") / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "surveil",
            "demo",
            "--data",
            str(data),
            "--listen",
            "127.0.0.1:0",
            "--segment-seconds",
            "2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=_read_lines, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_read_lines, args=(proc.stderr, err), daemon=True),
    ]
    for r in readers:
        r.start()
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            m = re.search(r"open: (http://127\.0\.0\.1:\d+/) ", "".join(out))
            url = m.group(1) if m else None
            time.sleep(0.1)
        assert url is not None, f"demo printed no URL: {''.join(out)}{''.join(err)}"
        with urllib.request.urlopen(url + "api/v1/health", timeout=10) as resp:
            health = json.loads(resp.read())
        time.sleep(7)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for r in readers:
        r.join(10)
    yield Demo(data, "".join(out), "".join(err), proc.returncode, health)


def test_demo_prints_how_to_use_it_and_stops_cleanly(demo: Demo) -> None:
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stderr
    assert isinstance(demo.health, dict) and demo.health
    m = re.search(r"admin API token \(shown once\): (\S+)", demo.stdout)
    assert m and TOKEN_RE.match(m.group(1)), demo.stdout
    assert asyncio.run(_token_role(demo.data_dir, m.group(1))) == "admin"
    # No default password: a generated one, printed once, that signs in as admin.
    m = re.search(r"admin password \(shown once\): (\S+)", demo.stdout)
    assert m and len(m.group(1)) >= 16, demo.stdout
    assert asyncio.run(_password_ok(demo.data_dir, "admin", m.group(1)))
    assert f"surveil verify --data {demo.data_dir}" in demo.stdout


def test_verify_a_demo_archive(demo: Demo, tmp_path: Path) -> None:
    done = surveil("verify", "--data", str(demo.data_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("archive is consistent")
    m = re.search(r"segments checked: (\d+), ok: (\d+), open \(being written\): 0", done.stdout)
    assert m and int(m.group(1)) == int(m.group(2)) >= 2, done.stdout
    # the same through a config file
    conf = tmp_path / "surveil.toml"
    conf.write_text(f'data_dir = "{demo.data_dir}"\n', encoding="utf-8")
    assert surveil("verify", "--config", str(conf)).returncode == 0


def test_verify_names_a_tampered_segment(demo: Demo, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(demo.data_dir, copy)
    paths = asyncio.run(_segment_paths(copy))
    victim = paths[len(paths) // 2]
    f = copy / victim
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0x40
    f.write_bytes(bytes(data))
    done = surveil("verify", "--data", str(copy))
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(rf"file_changed: segment \d+, {re.escape(victim)}: ", done.stdout), done.stdout
    assert done.stdout.strip().endswith("ARCHIVE IS NOT CONSISTENT")
    others = [p for p in paths if p != victim]
    assert not any(p in done.stdout for p in others), "only the tampered file is named"


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "s.toml"
        cfg.write_text(f'data_dir = "{tmp_path / "data"}"\n[web]\nlisten = "127.0.0.1:{port}"\n')
        out = subprocess.run(
            [sys.executable, "-m", "surveil", "serve", "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 1
    assert "address already in use" in out.stderr.lower()
    assert "Traceback" not in out.stderr


def test_receipts_import_reports_each_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "surveil.toml"
    config.write_text(
        f'data_dir = "{data}"\n\n[[counters]]\ncode = "A01"\nname = "Window 1"\n',
        encoding="utf-8",
    )
    csv_file = tmp_path / "receipts.csv"
    csv_file.write_text(
        "receipt_no,counter,accepted_at,completed_at,case_no,service,handler\n"
        "R-1,A01,2026-11-26T09:00:00+08:00,2026-11-26T09:05:00+08:00,C1,passport,wang\n"
        "R-2,Z99,2026-11-26T09:00:00+08:00,,,,\n"
        "R-3,A01,2026-11-26T09:10:00+08:00,2026-11-26T09:00:00+08:00,,,\n"
        "R 4,A01,2026-11-26T09:10:00+08:00,,,,\n"
        "R-5,A01,2026-11-26T09:10:00,,,,\n"
        "R-1,A01,2026-11-26T09:00:00+08:00,2026-11-26T09:05:00+08:00,C1,passport,wang\n"
        "R-1,A01,2026-11-26T09:00:00+08:00,2026-11-26T09:05:00+08:00,C2,passport,wang\n"
        "R-6,A01,2026-11-26T10:00:00+08:00,,,,\n",
        encoding="utf-8",
    )
    done = surveil("receipts", "import", "--config", str(config), str(csv_file))
    assert done.returncode == 1, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "row 2: R-1: created"
    assert lines[1].startswith("row 3: R-2: error: ") and "no counter with code 'Z99'" in lines[1]
    assert lines[2].startswith("row 4: R-3: error: ") and "before accepted_at" in lines[2]
    assert lines[3].startswith("row 5: R 4: error: ") and "malformed" in lines[3]
    assert lines[4].startswith("row 6: R-5: error: ") and "UTC offset" in lines[4]
    assert lines[5] == "row 7: R-1: unchanged"
    assert lines[6].startswith("row 8: R-1: error: ") and "case_no" in lines[6]
    assert lines[7] == "row 9: R-6: created"
    assert lines[8] == "8 row(s): 2 created, 1 unchanged, 5 failed"
    assert asyncio.run(_receipt_numbers(data)) == ["R-1", "R-6"]
    # Each row that wrote (or re-delivered) a receipt is audited with it, by the CLI; a
    # failed row wrote nothing, audit row included.
    assert asyncio.run(_receipt_audit(data)) == [
        ("R-1", "cli", "system", True),
        ("R-1", "cli", "system", False),
        ("R-6", "cli", "system", True),
    ]

    good = tmp_path / "good.csv"
    good.write_text(
        "receipt_no,counter,accepted_at\nR-7,A01,2026-11-26T01:00:00Z\n", encoding="utf-8"
    )
    done = surveil("receipts", "import", "--data", str(data), str(good))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "row 2: R-7: created"


def test_receipts_import_reports_a_row_with_nul_or_control_characters_as_an_error(
    tmp_path: Path, database_url: str
) -> None:
    """The text rule is the index's: a NUL (stored on SQLite, a DBAPIError traceback on
    PostgreSQL) or a control character in a cell fails that row only, on both backends."""
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "surveil.toml"
    config.write_text(
        f'data_dir = "{data}"\ndatabase_url = "{database_url}"\n\n'
        '[[counters]]\ncode = "A01"\nname = "Window 1"\n',
        encoding="utf-8",
    )
    at = "2026-11-26T09:00:00+08:00"
    csv_file = tmp_path / "receipts.csv"
    csv_file.write_text(
        "receipt_no,counter,accepted_at,completed_at,case_no,service,handler\n"
        f"R-1,A01,{at},,C1,passport,wang\n"
        f"R-2,A01,{at},,C2,passport,Li\x00Lei\n"
        f"R-3,A01,{at},,C3,pass\x07port,li\n"
        f"R-4,A01,{at},,C\x1b[31m4,passport,li\n"
        f"R\x1b[2J5,A01,{at},,,,\n"
        f"R-6,A0\x001,{at},,,,\n"
        f"R-7,A01,{at},,C7,passport,zhao\n",
        encoding="utf-8",
    )
    done = surveil("receipts", "import", "--config", str(config), str(csv_file))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0] == "row 2: R-1: created", lines
    assert lines[1].startswith("row 3: R-2: error: ") and "handler" in lines[1], lines
    assert lines[2].startswith("row 4: R-3: error: ") and "service" in lines[2], lines
    assert lines[3].startswith("row 5: R-4: error: ") and "case_no" in lines[3], lines
    assert lines[4].startswith("row 6: R\\x1b[2J5: error: ") and "receipt_no" in lines[4], lines
    assert lines[5].startswith("row 7: R-6: error: ") and "counter" in lines[5], lines
    assert lines[6] == "row 8: R-7: created", lines
    assert lines[7] == "7 row(s): 2 created, 0 unchanged, 5 failed", lines
    # The report is safe to read on a terminal: no raw control character reaches it.
    assert not any(ord(c) < 0x20 and c != "\n" for c in done.stdout), done.stdout
    assert asyncio.run(_receipt_numbers(data, database_url)) == ["R-1", "R-7"]


def test_receipts_import_refuses_a_bad_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("number,counter,accepted_at\nR-1,A01,2026-11-26T01:00:00Z\n", encoding="utf-8")
    done = surveil("receipts", "import", "--data", str(tmp_path), str(bad))
    assert done.returncode == 1
    assert "missing: receipt_no" in done.stdout and "unknown: number" in done.stdout


async def _receipt_audit(data_dir: Path) -> list[tuple[str | None, str, str, object]]:
    from index.audit import list_audit

    db = await Database.open(f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        async with db.read() as s:
            rows = await list_audit(s, action="receipt.create")
        return [
            (a.target, a.actor, a.actor_kind, a.detail["created"])
            for a in sorted(rows, key=lambda a: a.id)
        ]
    finally:
        await db.close()


async def _receipt_numbers(data_dir: Path, database_url: str | None = None) -> list[str]:
    from sqlalchemy import select

    from index.models import Receipt

    db = await Database.open(database_url or f"sqlite+aiosqlite:///{data_dir / 'index.sqlite3'}")
    try:
        async with db.read() as s:
            rows = await s.execute(select(Receipt.receipt_no).order_by(Receipt.receipt_no))
            return [str(r) for r in rows.scalars()]
    finally:
        await db.close()
