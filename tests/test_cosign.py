"""Optional co-signature and timestamps, configured: each checkpoint carries an SM2/SM3
signature beside the Ed25519 one and an RFC 3161 token from a TSA on loopback."""

from __future__ import annotations

from pathlib import Path

from surveil.config import parse_config
from surveil.integrity import SM2_KEY_FILE
from surveil.service import Service
from surveil.sm2 import load_or_create_sm2
from surveil.timestamp import verify_token
from tests.tsa import local_tsa
from tlog.note import open_note


async def test_checkpoints_are_cosigned_and_timestamped(tmp_path: Path) -> None:
    async with local_tsa(tmp_path) as tsa:
        root = tmp_path / "tsa-root.pem"
        root.write_bytes(tsa.root_pem)
        cfg = parse_config(
            {
                "data_dir": str(tmp_path / "data"),
                "web": {"listen": "127.0.0.1:0"},
                "integrity": {"sm2": True, "tsa_url": tsa.url, "tsa_root": str(root)},
            }
        )
        svc = Service(cfg)
        await svc.start()
        try:
            assert svc.integrity is not None
            record = await svc.integrity.checkpoint_now()
            name = svc.integrity.signer.name
        finally:
            await svc.stop()
    sm2 = load_or_create_sm2(tmp_path / "data" / SM2_KEY_FILE, name)
    opened_sm2 = open_note(record.note, [sm2.verifier()])
    assert opened_sm2.verified == (sm2.name,)
    assert record.note.count("\n\u2014 ") == 2  # Ed25519 and SM2
    assert record.timestamp_token is not None
    info = verify_token(record.timestamp_token, record.note.encode(), tsa.root_pem)
    assert info.gen_time_us > 0


async def test_a_token_from_another_tsa_is_not_kept_and_raises_the_alarm(tmp_path: Path) -> None:
    async with local_tsa(tmp_path) as tsa, local_tsa(tmp_path) as other:
        root = tmp_path / "other-root.pem"
        root.write_bytes(other.root_pem)
        cfg = parse_config(
            {
                "data_dir": str(tmp_path / "data"),
                "web": {"listen": "127.0.0.1:0"},
                "integrity": {"tsa_url": tsa.url, "tsa_root": str(root)},
            }
        )
        svc = Service(cfg)
        await svc.start()
        try:
            assert svc.integrity is not None
            record = await svc.integrity.checkpoint_now()
            alarms = svc.integrity.alarms()
        finally:
            await svc.stop()
    assert record.timestamp_token is None  # the checkpoint is still issued
    assert any(a.startswith("checkpoint: timestamp:") for a in alarms), alarms
