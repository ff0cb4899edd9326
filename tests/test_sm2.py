"""SM2/SM3 note signatures (surveil/sm2.py): round trips beside Ed25519, tampering, the key file,
the key id formula, and interoperability with plain openssl command lines."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from surveil.sm2 import (
    SM2_DISTID,
    Sm2Error,
    Sm2Signer,
    Sm2Verifier,
    load_or_create_sm2,
    parse_sm2_verifier,
)
from tlog import note

NAME = "surveil.example/sm2"
TEXT = "surveil.example/log\n42\n" + base64.b64encode(bytes(range(32))).decode() + "\n"


def openssl(*args: str, stdin: bytes = b"") -> bytes:
    """Run the openssl command line as a person would; its stdout."""
    result = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


@pytest.fixture
def signer(tmp_path: Path) -> Sm2Signer:
    return load_or_create_sm2(tmp_path / "data" / "sm2.pem", NAME)


def _signature_of(signed: str, name: str) -> bytes:
    for line in signed.split("\n\n")[-1].splitlines():
        if line.split(" ")[1] == name:
            return base64.b64decode(line.split(" ")[2])[4:]
    raise AssertionError(f"no signature by {name}")


def test_round_trip_beside_an_ed25519_signature(signer: Sm2Signer) -> None:
    ed25519 = note.Signer.generate("surveil.example/ed25519")
    signed = note.sign(TEXT, [ed25519, signer])
    verifier = parse_sm2_verifier(signer.verifier().line())
    assert verifier == signer.verifier()
    opened = note.open_note(signed, [ed25519.verifier(), verifier])
    assert opened.text == TEXT
    assert opened.verified == ("surveil.example/ed25519", NAME)
    # Either key alone opens the note; the other signature is skipped as unknown.
    assert note.open_note(signed, [verifier]).verified == (NAME,)
    assert note.open_note(signed, [ed25519.verifier()]).verified == ("surveil.example/ed25519",)
    # SM2 signatures are randomized: signing again gives another valid signature.
    again = note.sign(TEXT, [signer])
    assert _signature_of(again, NAME) != _signature_of(signed, NAME)
    assert note.open_note(again, [verifier]).verified == (NAME,)


def test_a_flipped_byte_in_the_text_or_the_signature_fails(signer: Sm2Signer) -> None:
    verifier = signer.verifier()
    signed = note.sign(TEXT, [signer])
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(signed.replace("\n42\n", "\n43\n"), [verifier])
    signature = _signature_of(signed, NAME)
    assert verifier.verify(TEXT.encode(), signature)
    for index in (0, 5, len(signature) // 2, len(signature) - 1):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        assert not verifier.verify(TEXT.encode(), bytes(flipped))
    text = bytearray(TEXT.encode())
    text[0] ^= 0x01
    assert not verifier.verify(bytes(text), signature)
    blob = bytearray(base64.b64decode(signed.split("\n\n")[-1].split(" ")[2]))
    blob[-1] ^= 0x01
    forged = signed.split("\n\n")[0] + f"\n\n\u2014 {NAME} {base64.b64encode(blob).decode()}\n"
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(forged, [verifier])


def test_garbage_signatures_are_false_not_errors(signer: Sm2Signer) -> None:
    verifier = signer.verifier()
    for garbage in (b"", b"\x30", b"\x30" + bytes(69), b"\x30" + os.urandom(70), bytes(300)):
        assert verifier.verify(TEXT.encode(), garbage) is False


def test_another_key_does_not_verify(signer: Sm2Signer, tmp_path: Path) -> None:
    other = load_or_create_sm2(tmp_path / "other.pem", NAME)
    assert other.public != signer.public and other.key_id != signer.key_id
    signature = signer.sign(TEXT.encode())
    # Same name, wrong key id: the wrong key is asked directly, and says no.
    assert not other.verifier().verify(TEXT.encode(), signature)
    with pytest.raises(note.NoteError, match="no signature by a known key"):
        note.open_note(note.sign(TEXT, [signer]), [other.verifier()])
    # A verifier that claims the signer's name and id but holds another key fails loudly.
    impostor = Sm2Verifier(NAME, other.public)
    with pytest.raises(note.NoteError, match="does not verify"):
        note.open_note(note.sign(TEXT, [signer]), [_SameIdVerifier(impostor, signer.key_id)])


class _SameIdVerifier:
    """A verifier whose key id is forced (as a colliding id would be)."""

    def __init__(self, inner: Sm2Verifier, key_id: int) -> None:
        self._inner, self._key_id = inner, key_id

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def key_id(self) -> int:
        return self._key_id

    def verify(self, text: bytes, signature: bytes) -> bool:
        return self._inner.verify(text, signature)


def test_key_id_matches_the_signed_note_formula(signer: Sm2Signer, tmp_path: Path) -> None:
    # Computed independently: the point from openssl's own SPKI output, the OID from openssl's
    # ASN.1 encoder, and SHA-256(name ‖ 0x0A ‖ 0xff ‖ OID ‖ point)[:4].
    spki = openssl("pkey", "-in", str(signer.key_path), "-pubout", "-outform", "DER")
    point = spki[-65:]
    assert point[0] == 0x04 and point == signer.public
    oid_file = tmp_path / "oid.der"
    openssl("asn1parse", "-genstr", "OID:1.2.156.10197.1.501", "-noout", "-out", str(oid_file))
    oid_der = oid_file.read_bytes()
    assert oid_der == bytes.fromhex("06082a811ccf55018375")
    digest = hashlib.sha256(NAME.encode() + b"\n" + b"\xff" + oid_der + point).digest()
    assert signer.key_id == int.from_bytes(digest[:4], "big")
    name, hex_id, encoded = signer.verifier().line().split("+", 2)
    assert name == NAME and hex_id == digest[:4].hex()
    assert base64.b64decode(encoded) == b"\xff" + oid_der + point
    assert signer.verifier().spki_der() == spki
    blob = base64.b64decode(note.sign(TEXT, [signer]).split("\n\n")[-1].split(" ")[2])
    assert blob[:4] == digest[:4]


def test_our_signature_verifies_with_the_openssl_command_line(
    signer: Sm2Signer, tmp_path: Path
) -> None:
    message = tmp_path / "message"
    message.write_bytes(TEXT.encode())
    sig = tmp_path / "sig"
    sig.write_bytes(signer.sign(TEXT.encode()))
    public = tmp_path / "public.pem"
    public.write_bytes(openssl("pkey", "-in", str(signer.key_path), "-pubout"))
    common = ["-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{SM2_DISTID}"]
    args = ["pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-in", str(message)]
    out = openssl(*args, "-sigfile", str(sig), *common)
    assert b"Signature Verified Successfully" in out
    # And openssl says no to another text (so the line above can fail).
    message.write_bytes(TEXT.encode() + b"x")
    result = subprocess.run(
        ["openssl", *args, "-sigfile", str(sig), *common], capture_output=True, check=False
    )
    assert result.returncode != 0 and b"Verification Failure" in result.stdout


def test_an_openssl_command_line_signature_verifies_with_sm2_verifier(tmp_path: Path) -> None:
    key = tmp_path / "cli.pem"
    key.write_bytes(openssl("genpkey", "-algorithm", "SM2"))
    message = tmp_path / "message"
    message.write_bytes(TEXT.encode())
    signature = openssl(
        *["pkeyutl", "-sign", "-inkey", str(key), "-in", str(message)],
        *["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"],
    )
    point = openssl("pkey", "-in", str(key), "-pubout", "-outform", "DER")[-65:]
    verifier = Sm2Verifier(NAME, point)
    assert verifier.verify(TEXT.encode(), signature)
    assert not verifier.verify(TEXT.encode() + b"x", signature)
    # A signature with another distinguishing ID is not ours.
    other_id = openssl(
        *["pkeyutl", "-sign", "-inkey", str(key), "-in", str(message)],
        *["-rawin", "-digest", "sm3", "-pkeyopt", "distid:surveil"],
    )
    assert not verifier.verify(TEXT.encode(), other_id)


def test_key_file_created_0600_despite_umask_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "sm2.pem"
    old = os.umask(0)
    try:
        first = load_or_create_sm2(path, NAME)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert sorted(p.name for p in path.parent.iterdir()) == ["sm2.pem"]
    assert load_or_create_sm2(path, NAME).public == first.public
    assert b"PRIVATE" not in repr(first).encode() and path.read_text()[40:80] not in repr(first)


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "sm2.pem"
    signers: list[Sm2Signer] = []
    threads = [
        threading.Thread(target=lambda: signers.append(load_or_create_sm2(path, NAME)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(signers) == 4 and len({s.public for s in signers}) == 1


def test_a_key_file_readable_by_others_is_refused(signer: Sm2Signer) -> None:
    signer.key_path.chmod(0o644)
    with pytest.raises(Sm2Error, match="chmod 600") as caught:
        load_or_create_sm2(signer.key_path, NAME)
    assert "0644" in str(caught.value) and caught.value.code == "sm2_key_unusable"
    signer.key_path.chmod(0o640)
    with pytest.raises(Sm2Error, match="chmod 600"):
        load_or_create_sm2(signer.key_path, NAME)


def test_a_link_or_directory_is_refused(signer: Sm2Signer, tmp_path: Path) -> None:
    link = tmp_path / "link.pem"
    link.symlink_to(signer.key_path)
    with pytest.raises(Sm2Error, match="not a regular file"):
        load_or_create_sm2(link, NAME)
    with pytest.raises(Sm2Error, match="not a regular file"):
        load_or_create_sm2(tmp_path, NAME)


def test_an_encrypted_or_non_sm2_key_is_refused_without_prompting(tmp_path: Path) -> None:
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        openssl("genpkey", "-algorithm", "SM2", "-aes-256-cbc", "-pass", "pass:secret")
    )
    encrypted.chmod(0o600)
    with pytest.raises(Sm2Error, match="not an unencrypted PEM private key") as caught:
        load_or_create_sm2(encrypted, NAME)
    assert "secret" not in str(caught.value)
    p256 = tmp_path / "p256.pem"
    p256.write_bytes(openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
    p256.chmod(0o600)
    with pytest.raises(Sm2Error, match="not an SM2 key"):
        load_or_create_sm2(p256, NAME)


def test_missing_openssl_is_an_sm2_error(signer: Sm2Signer, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-openssl")
    broken = Sm2Signer(NAME, signer.key_path, signer.public, missing)
    with pytest.raises(Sm2Error, match="not found"):
        broken.sign(b"x\n")
    signature = signer.sign(b"x\n")
    with pytest.raises(Sm2Error, match="not found"):
        broken.verifier().verify(b"x\n", signature)
    with pytest.raises(Sm2Error, match="not found"):
        load_or_create_sm2(tmp_path / "new.pem", NAME, openssl=missing)


def test_parse_refuses_wrong_id_algorithm_base64_and_points(signer: Sm2Signer) -> None:
    line = signer.verifier().line()
    name, hex_id, encoded = line.split("+", 2)
    wrong_id = f"{int(hex_id, 16) ^ 1:08x}"
    with pytest.raises(note.NoteError, match="does not match"):
        parse_sm2_verifier(f"{name}+{wrong_id}+{encoded}")
    with pytest.raises(note.NoteError, match="does not match"):
        parse_sm2_verifier(f"other.example/sm2+{hex_id}+{encoded}")
    ed25519_line = note.Signer.generate(NAME).verifier().line()
    with pytest.raises(note.NoteError, match="not an SM2 verifier key"):
        parse_sm2_verifier(ed25519_line)
    with pytest.raises(note.NoteError, match="not base64"):
        parse_sm2_verifier(f"{name}+{hex_id}+{encoded[:-2]}!!")
    with pytest.raises(note.NoteError, match="8 lower-case hex"):
        parse_sm2_verifier(f"{name}+{hex_id.upper()}X+{encoded}")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01  # y ^ 1 is never ±y mod p, so the point leaves the curve
    with pytest.raises(note.NoteError, match="not a point on the SM2 curve"):
        parse_sm2_verifier(f"{name}+{hex_id}+{base64.b64encode(bytes(raw)).decode()}")
    with pytest.raises(note.NoteError, match="uncompressed point"):
        parse_sm2_verifier(f"{name}+{hex_id}+{base64.b64encode(bytes(raw[:-1])).decode()}")
