"""SM2/SM3 signatures of C2SP signed notes (GB/T 32918 SM2 with GB/T 32905 SM3), via OpenSSL 3.

Optional: a checkpoint may carry this signature beside the Ed25519 one, for GB 35114-style
deployments that want a national-standard algorithm. ``cryptography`` has no SM2, so signing and
verifying run the ``openssl`` command (OpenSSL 3.0 or later) as a subprocess, with arguments as a
list, no shell, and the private key given as a file path; checkpoints are signed about once a
minute, so a process per signature is cheap enough.

Signature type. c2sp.org/signed-note assigns identifier bytes 0x01 (Ed25519), 0x02 (ECDSA on NIST
curves), 0x04 (cosignatures) and 0x05 (RFC 6962 tree heads); SM2 has none. The spec reserves
``0xff`` for signature types without an assigned byte and recommends following it with a longer
identifier that is unlikely to collide, so ours is ``0xff`` followed by the DER encoding of the
object identifier of SM2-with-SM3 (1.2.156.10197.1.501, GM/T 0006): an OID is globally unique by
construction and names exactly this algorithm. The signature type is therefore 11 bytes,
:data:`SIGNATURE_TYPE`.

Public key bytes: the uncompressed SM2 point ``0x04 ‖ X ‖ Y`` (65 bytes), like Ed25519's raw key
in the same format; the SubjectPublicKeyInfo that openssl reads is that point behind a fixed
26-byte prefix (id-ecPublicKey with the SM2 curve), so either form follows from the other. Hence::

    key ID        = SHA-256(name ‖ 0x0A ‖ 0xff ‖ OID ‖ point)[:4]
    verifier key  = <name>+<8 hex digits of the id>+<base64(0xff ‖ OID ‖ point)>

Signatures are the DER ``SEQUENCE { r INTEGER, s INTEGER }`` that ``openssl pkeyutl -sign -rawin
-digest sm3`` emits over the note text, with the distinguishing ID :data:`SM2_DISTID` (the default
of GB/T 35276 and RFC 8998). The ID must be passed explicitly: OpenSSL 3.0's ``pkeyutl`` signs with
an empty ID when none is given, and such a signature does not verify with the standard ID.

The private key is a PEM (PKCS #8) file in the data directory, created on first use with mode 0600
and refused if other users could read it, as the camera key file is (cameras/credentials.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Final

from cameras.credentials import PrivateFileError, create_private_file, read_private_file
from tlog.note import NoteError, check_name

SM2_DISTID: Final = "1234567812345678"
ALG_UNREGISTERED: Final = 0xFF
SM2_WITH_SM3_OID_DER: Final = bytes.fromhex("06082a811ccf55018375")  # 1.2.156.10197.1.501
SIGNATURE_TYPE: Final = bytes([ALG_UNREGISTERED]) + SM2_WITH_SM3_OID_DER
POINT_SIZE: Final = 65

# SubjectPublicKeyInfo of an SM2 key: id-ecPublicKey (1.2.840.10045.2.1) with the named curve
# SM2 (1.2.156.10197.1.301), then the BIT STRING holding the uncompressed point.
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")

# The SM2 curve y² = x³ + ax + b over GF(p) (GB/T 32918.5), to refuse a point off the curve
# before any openssl process sees it.
_P: Final = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
_A: Final = _P - 3
_B: Final = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)

_TIMEOUT_S: Final = 10.0
_MAX_SIGNATURE: Final = 72  # DER of two 256-bit integers, each with a possible leading zero
_PKEYOPTS: Final = ("-rawin", "-digest", "sm3", "-pkeyopt", f"distid:{SM2_DISTID}")
_PROBE: Final = b"surveil sm2 self-test\n"


class Sm2Error(Exception):
    """The SM2 key file is unusable, or openssl cannot sign or verify. Never holds key material."""

    code: ClassVar[str] = "sm2_key_unusable"


def _check_point(point: bytes) -> None:
    if len(point) != POINT_SIZE or point[0] != 0x04:
        raise NoteError("an SM2 public key is an uncompressed point (0x04 ‖ X ‖ Y, 65 bytes)")
    x = int.from_bytes(point[1:33], "big")
    y = int.from_bytes(point[33:], "big")
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P:
        raise NoteError("the SM2 public key is not a point on the SM2 curve")


def sm2_key_id(name: str, point: bytes) -> int:
    """The 4-byte signed-note key id of an SM2 key, as an integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + SIGNATURE_TYPE + point).digest()
    return int.from_bytes(digest[:4], "big")


def _run(argv: list[str], stdin: bytes, what: str) -> subprocess.CompletedProcess[bytes]:
    """Run openssl; Sm2Error only if it cannot start or hangs (the exit code is the caller's)."""
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, timeout=_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise Sm2Error(
            f"cannot {what}: the openssl command {argv[0]!r} was not found; install OpenSSL 3"
        ) from None
    except PermissionError:
        raise Sm2Error(
            f"cannot {what}: the openssl command {argv[0]!r} is not executable"
        ) from None
    except subprocess.TimeoutExpired:
        raise Sm2Error(f"cannot {what}: openssl did not finish in {_TIMEOUT_S:g} s") from None


def _first_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else "no message"


@dataclass(frozen=True)
class Sm2Verifier:
    """An SM2 public key with its name; checks signatures through ``openssl pkeyutl -verify``."""

    name: str
    public: bytes
    openssl: str = "openssl"

    def __post_init__(self) -> None:
        check_name(self.name)
        _check_point(self.public)

    @property
    def key_id(self) -> int:
        return sm2_key_id(self.name, self.public)

    def spki_der(self) -> bytes:
        """The key as a DER SubjectPublicKeyInfo, the form openssl and X.509 tools read."""
        return _SPKI_PREFIX + self.public

    def line(self) -> str:
        """The verifier key in note form."""
        encoded = base64.b64encode(SIGNATURE_TYPE + self.public).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether signature is this key's SM2/SM3 signature of text.

        False for any signature that does not verify, however malformed; Sm2Error only if
        openssl cannot be run or cannot perform SM2 at all (then no answer would be honest).
        """
        if not 8 <= len(signature) <= _MAX_SIGNATURE or signature[0] != 0x30:
            return False
        with tempfile.TemporaryDirectory(prefix="surveil-sm2-") as tmp:
            key_file = Path(tmp) / "key.der"
            sig_file = Path(tmp) / "sig.der"
            key_file.write_bytes(self.spki_der())
            sig_file.write_bytes(signature)
            argv = [self.openssl, "pkeyutl", "-verify", "-pubin", "-keyform", "DER"]
            argv += ["-inkey", str(key_file), "-sigfile", str(sig_file), *_PKEYOPTS]
            result = _run(argv, text, "verify an SM2 signature")
        if result.returncode == 0 and b"Signature Verified Successfully" in result.stdout:
            return True
        if b"Signature Verification Failure" in result.stdout:
            return False
        raise Sm2Error(f"openssl cannot verify SM2 signatures: {_first_line(result.stderr)}")


def parse_sm2_verifier(line: str, *, openssl: str = "openssl") -> Sm2Verifier:
    """An SM2 verifier key line; NoteError if malformed, not SM2, or if its id does not match."""
    name, _, rest = line.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    check_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteError("a verifier key's id must be 8 lower-case hex digits")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("the verifier key is not base64") from None
    if not raw.startswith(SIGNATURE_TYPE):
        raise NoteError(
            "not an SM2 verifier key: its signature type is not 0xff followed by the "
            "SM2-with-SM3 OID"
        )
    verifier = Sm2Verifier(name, raw[len(SIGNATURE_TYPE) :], openssl)
    if verifier.key_id != int(hex_id, 16):
        raise NoteError("the verifier key's id does not match its name and key")
    return verifier


@dataclass(frozen=True)
class Sm2Signer:
    """An SM2 private key file with its name; signs through ``openssl pkeyutl -sign``.

    Holds only the key's path and public point: the private key stays in its 0600 file and
    reaches openssl by path, never through a command line, a log or this object's repr.
    """

    name: str
    key_path: Path
    public: bytes
    openssl: str = "openssl"

    def __post_init__(self) -> None:
        check_name(self.name)
        _check_point(self.public)

    @property
    def key_id(self) -> int:
        return sm2_key_id(self.name, self.public)

    def verifier(self) -> Sm2Verifier:
        return Sm2Verifier(self.name, self.public, self.openssl)

    def sign(self, message: bytes) -> bytes:
        """The DER SM2/SM3 signature of message; Sm2Error if openssl cannot make one."""
        argv = [self.openssl, "pkeyutl", "-sign", "-inkey", str(self.key_path)]
        argv += ["-passin", "pass:", *_PKEYOPTS]  # an encrypted key fails instead of prompting
        result = _run(argv, message, "make an SM2 signature")
        signature = result.stdout
        if result.returncode != 0 or not 8 <= len(signature) <= _MAX_SIGNATURE:
            raise Sm2Error(
                f"openssl could not sign with the SM2 key file {self.key_path}: "
                f"{_first_line(result.stderr)}"
            )
        return signature


def _create_key(path: Path, openssl: str) -> None:
    """Write a fresh SM2 key to path unless a key is there already (another process won)."""
    result = _run([openssl, "genpkey", "-algorithm", "SM2"], b"", "create an SM2 key")
    pem = result.stdout
    if result.returncode != 0 or b"PRIVATE KEY" not in pem:
        raise Sm2Error(f"openssl could not create an SM2 key: {_first_line(result.stderr)}")
    try:
        create_private_file(path, pem)
    except OSError as exc:
        raise Sm2Error(f"cannot create the SM2 key file {path}: {exc.strerror}") from None


def _public_point(path: Path, openssl: str) -> bytes:
    """The SM2 point of the private key file at path, after checking the file's type and mode."""
    try:
        read_private_file(path, "SM2 key file")
    except PrivateFileError as exc:
        raise Sm2Error(str(exc)) from None
    argv = [openssl, "pkey", "-in", str(path), "-passin", "pass:", "-pubout", "-outform", "DER"]
    result = _run(argv, b"", "read the SM2 key")
    spki = result.stdout
    if result.returncode != 0:
        raise Sm2Error(
            f"the SM2 key file {path} is not an unencrypted PEM private key openssl can read; "
            "restore it from a backup"
        )
    if not spki.startswith(_SPKI_PREFIX) or len(spki) != len(_SPKI_PREFIX) + POINT_SIZE:
        raise Sm2Error(f"the key in {path} is not an SM2 key (curve 1.2.156.10197.1.301)")
    return spki[len(_SPKI_PREFIX) :]


def load_or_create_sm2(path: Path, name: str, *, openssl: str = "openssl") -> Sm2Signer:
    """The SM2 signer whose key is the PEM file at path, created (0600) if absent.

    Sm2Error if the file is not a private regular file holding an SM2 key, or if openssl cannot
    sign and verify with it: one signature is made and checked here so that a broken OpenSSL
    shows at startup rather than at the first checkpoint.
    """
    path = Path(path)
    check_name(name)
    if not path.exists() and not path.is_symlink():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise Sm2Error(f"cannot create the folder of {path}: {exc.strerror}") from None
        _create_key(path, openssl)
    signer = Sm2Signer(name, path, _public_point(path, openssl), openssl)
    if not signer.verifier().verify(_PROBE, signer.sign(_PROBE)):
        raise Sm2Error(f"openssl made an SM2 signature with {path} that does not verify")
    return signer
