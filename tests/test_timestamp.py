"""RFC 3161 tokens (surveil/timestamp.py) from a real ``openssl ts -reply`` TSA on loopback
(tests/tsa.py): round trips, tokens that must not verify, and TSAs that misbehave."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

from surveil.timestamp import TimestampError, _normalized_reply, fetch_token, verify_token
from tests.tsa import local_tsa, serve

DATA = b"surveil.example/log\n42\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"


async def test_fetch_and_verify_round_trip(tmp_path: Path) -> None:
    async with local_tsa(tmp_path) as tsa:
        before_us = time.time_ns() // 1000
        token = await fetch_token(tsa.url, DATA)
        after_us = time.time_ns() // 1000
        second = await fetch_token(tsa.url, DATA)
    info = verify_token(token, DATA, tsa.root_pem)
    # The TSA's clock is this machine's; it states milliseconds and 1 s accuracy.
    assert before_us - 1_000_000 <= info.gen_time_us <= after_us + 1_000_000
    assert info.tsa == tsa.subject
    assert info.serial > 0 and verify_token(second, DATA, tsa.root_pem).serial != info.serial
    # The token alone is what openssl's own verifier reads, too.
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "root.pem").write_bytes(tsa.root_pem)
    result = subprocess.run(
        [
            *["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der")],
            *["-data", str(tmp_path / "data"), "-CAfile", str(tmp_path / "root.pem")],
        ],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0 and b"Verification: OK" in result.stdout
    # And openssl agrees on the time, to the millisecond.
    text = subprocess.run(
        ["openssl", "ts", "-reply", "-token_in", "-in", str(tmp_path / "token.der"), "-text"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    stamp = next(line for line in text.splitlines() if line.startswith("Time stamp:"))
    printed = " ".join(stamp.removeprefix("Time stamp:").split())  # "Dec 1 15:15:50.87 2026 GMT"
    fmt = "%b %d %H:%M:%S.%f %Y GMT" if "." in printed else "%b %d %H:%M:%S %Y GMT"
    when = datetime.strptime(printed, fmt).replace(tzinfo=UTC)
    assert info.gen_time_us == (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    ), stamp


async def test_verify_fails_for_other_data_another_root_or_garbage(tmp_path: Path) -> None:
    async with local_tsa(tmp_path) as tsa, local_tsa(tmp_path, name="other TSA") as other:
        token = await fetch_token(tsa.url, DATA)
        other_token = await fetch_token(other.url, DATA)
    assert verify_token(other_token, DATA, other.root_pem).tsa == other.subject
    with pytest.raises(TimestampError, match="another message") as caught:
        verify_token(token, DATA + b"x", tsa.root_pem)
    assert caught.value.code == "timestamp_failed"
    with pytest.raises(TimestampError, match="does not verify"):
        verify_token(token, DATA, other.root_pem)
    with pytest.raises(TimestampError, match="does not verify"):
        verify_token(other_token, DATA, tsa.root_pem)
    with pytest.raises(TimestampError, match="not a DER TimeStampToken"):
        verify_token(token[:-10], DATA, tsa.root_pem)
    with pytest.raises(TimestampError, match="not a DER TimeStampToken"):
        verify_token(b"\x30\x03\x02\x01\x00", DATA, tsa.root_pem)
    with pytest.raises(TimestampError, match="not a PEM certificate"):
        verify_token(token, DATA, b"not a certificate")
    # A flipped byte inside the signed TSTInfo (its serial's last byte) breaks the signature.
    serial_at = token.index(DATA_DIGEST) + len(DATA_DIGEST) + 2
    tampered = bytearray(token)
    tampered[serial_at] ^= 0x01
    with pytest.raises(TimestampError, match="does not verify"):
        verify_token(bytes(tampered), DATA, tsa.root_pem)


DATA_DIGEST = hashlib.sha256(DATA).digest()


async def test_a_token_signed_with_a_ca_certificate_is_refused(tmp_path: Path) -> None:
    async with local_tsa(tmp_path, tsa_is_ca=True) as tsa:
        token = await fetch_token(tsa.url, DATA)
    with pytest.raises(TimestampError, match="CA certificate"):
        verify_token(token, DATA, tsa.root_pem)


async def test_a_tsa_that_rejects_the_request(tmp_path: Path) -> None:
    # This TSA stamps SHA-512 imprints only; ours are SHA-256, so openssl answers "rejection".
    async with local_tsa(tmp_path, digests="sha512") as tsa:
        with pytest.raises(TimestampError, match=r"refused the request \(rejection\)") as caught:
            await fetch_token(tsa.url, DATA)
    assert "algorithm" in str(caught.value).lower()


async def _answering(status: int, body: bytes, content_type: str) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def test_http_500_fails_clearly_without_credentials() -> None:
    app = await _answering(500, b"internal error", "text/plain")
    async with serve(app) as url:
        with_credentials = url.replace("http://", "http://tsa-user:hunter2@") + "stamp?key=s3cret"
        with pytest.raises(TimestampError, match="answered HTTP 500") as caught:
            await fetch_token(with_credentials, DATA)
    message = str(caught.value)
    assert "hunter2" not in message and "s3cret" not in message and "tsa-user" not in message
    assert f"{url}stamp" in message


async def test_a_url_that_is_not_a_tsa() -> None:
    app = await _answering(200, b"<html>hello</html>", "text/html")
    async with serve(app) as url:
        with pytest.raises(TimestampError, match="not application/timestamp-reply"):
            await fetch_token(url, DATA)
    # A TSA-typed reply that is not a TimeStampResp.
    app = await _answering(200, b"\x30\x00", "application/timestamp-reply")
    async with serve(app) as url:
        with pytest.raises(TimestampError, match="not a TimeStampResp"):
            await fetch_token(url, DATA)
    # One that never stops talking.
    app = await _answering(200, bytes(2 * 1024 * 1024), "application/timestamp-reply")
    async with serve(app) as url:
        with pytest.raises(TimestampError, match="sent more than 1048576 bytes"):
            await fetch_token(url, DATA)
    with pytest.raises(TimestampError, match="not http or https"):
        await fetch_token("ftp://127.0.0.1/", DATA)
    with pytest.raises(TimestampError, match="not http or https"):
        await fetch_token("http://[::1", DATA)


async def test_a_closed_port() -> None:
    app = web.Application()
    async with serve(app) as url:
        pass  # now nothing listens there
    with pytest.raises(TimestampError, match="cannot reach the TSA"):
        await fetch_token(url, DATA, timeout_s=5)


async def test_a_tsa_that_does_not_answer_in_time() -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.wait_for(release.wait(), 10)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_post("/", stall)
    async with serve(app) as url:
        started = time.monotonic()
        try:
            with pytest.raises(TimestampError, match=r"did not answer within 0.3 s"):
                await fetch_token(url, DATA, timeout_s=0.3)
        finally:
            release.set()
        assert time.monotonic() - started < 3


def _query(data: bytes) -> bytes:
    builder = TimestampRequestBuilder().data(data).hash_algorithm(HashAlgorithm.SHA256)
    return builder.build().as_bytes()


async def test_a_replayed_reply_is_refused(tmp_path: Path) -> None:
    async with local_tsa(tmp_path) as real, aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/timestamp-query"}
        async with session.post(real.url, data=_query(DATA), headers=headers) as reply:
            assert reply.status == 200
            recorded = await reply.read()
        # openssl wrote the TSA's certificate before the root's, not in DER order.
        assert _normalized_reply(recorded) != recorded
        with pytest.raises(ValueError, match="InvalidSetOrdering"):
            decode_timestamp_response(recorded)
        app = await _answering(200, recorded, "application/timestamp-reply")
        async with serve(app) as url:
            with pytest.raises(TimestampError, match="another nonce"):
                await fetch_token(url, DATA)


async def test_a_reply_for_another_message_is_refused(tmp_path: Path) -> None:
    """A dishonest proxy swaps the imprint before the real TSA stamps it; the nonce still
    matches, so only the imprint check catches it."""
    async with local_tsa(tmp_path) as real, aiohttp.ClientSession() as session:

        async def swap(request: web.Request) -> web.Response:
            query = await request.read()
            assert DATA_DIGEST in query
            forged = query.replace(DATA_DIGEST, hashlib.sha256(b"other").digest())
            headers = {"Content-Type": "application/timestamp-query"}
            async with session.post(real.url, data=forged, headers=headers) as reply:
                body = await reply.read()
            return web.Response(body=body, content_type="application/timestamp-reply")

        app = web.Application()
        app.router.add_post("/", swap)
        async with serve(app) as url:
            with pytest.raises(TimestampError, match="stamps another message"):
                await fetch_token(url, DATA)


async def test_empty_data_is_refused_before_any_request() -> None:
    with pytest.raises(TimestampError, match="empty"):
        await fetch_token("http://127.0.0.1:9/", b"")
