"""C2SP signed notes and checkpoints (c2sp.org/signed-note, c2sp.org/tlog-checkpoint).

A note is UTF-8 text ending in a newline, a blank line, then one line per signature:
``— <key name> <base64(4-byte key id ‖ signature)>`` (U+2014). Ed25519 keys, through
``cryptography``: the key id is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public
key); the verifier key is ``<name>+<8 hex digits of the id>+<base64(0x01 ‖ public key)>``
and the signer key ``PRIVATE+KEY+<name>+<id>+<base64(0x01 ‖ 32-byte seed)>``, as Go's
golang.org/x/mod/sumdb/note writes them. A checkpoint is a note whose text is
``<origin>\\n<size>\\n<base64 root>\\n`` and optional extension lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

ALG_ED25519 = 0x01
DASH = "\u2014"
_MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A note, key or checkpoint that is malformed, or whose signature does not verify."""


class NoteSigner(Protocol):
    """Anything that signs a note's text: our Ed25519 Signer, or another algorithm's
    (e.g. SM2) with its own key id."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def sign(self, message: bytes) -> bytes: ...


class NoteVerifier(Protocol):
    """Anything that checks a signature of a note's text by one named key."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> int: ...

    def verify(self, text: bytes, signature: bytes) -> bool: ...


def check_name(name: str) -> None:
    """NoteError unless name can name a key (printable, no spaces, no '+')."""
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"a key name must be printable, without spaces or '+': {name!r}")


def key_id(name: str, public: bytes) -> int:
    """The 4-byte key id of an Ed25519 key, as an integer."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"{what} is not base64") from None


@dataclass(frozen=True)
class Verifier:
    """Who signs, and the public key that checks it."""

    name: str
    key_id: int
    public: bytes

    def line(self) -> str:
        """The verifier key in note form."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public).decode()
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, text)
        except InvalidSignature:
            return False
        return True


def parse_verifier(line: str) -> Verifier:
    """A verifier key line; NoteError if malformed or if its id does not match its key."""
    name, _, rest = line.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    check_name(name)
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise NoteError("a verifier key's id must be 8 lower-case hex digits")
    raw = _b64decode(encoded, "the verifier key")
    if len(raw) != 33 or raw[0] != ALG_ED25519:
        raise NoteError("only Ed25519 verifier keys (algorithm 1, 32 bytes) are supported")
    verifier = Verifier(name, int(hex_id, 16), raw[1:])
    if key_id(name, verifier.public) != verifier.key_id:
        raise NoteError("the verifier key's id does not match its name and key")
    return verifier


@dataclass(frozen=True)
class Signer:
    """An Ed25519 signing key with its name."""

    name: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        check_name(name)
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def parse(cls, line: str) -> Signer:
        """A signer key line (``PRIVATE+KEY+name+id+base64``); its id is checked."""
        parts = line.strip().split("+", 4)  # the base64 key may hold "+" itself
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<id>+<key>")
        name, hex_id, encoded = parts[2:]
        check_name(name)
        raw = _b64decode(encoded, "the signer key")
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise NoteError("only Ed25519 signer keys (algorithm 1, 32 bytes) are supported")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if f"{signer.verifier().key_id:08x}" != hex_id:
            raise NoteError("the signer key's id does not match its name and key")
        return signer

    @property
    def key_id(self) -> int:
        return self.verifier().key_id

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def public(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def verifier(self) -> Verifier:
        public = self.public()
        return Verifier(self.name, key_id(self.name, public), public)

    def line(self) -> str:
        """The signer key in note form (secret: it goes in a 0600 file, nowhere else)."""
        seed = self.private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier().key_id:08x}+{encoded}"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise NoteError("a note's text must end with a newline")
    if "\n\n" in text:
        raise NoteError("a note's text must not contain a blank line")
    if any(c != "\n" and not c.isprintable() and c != "\t" for c in text) or "\r" in text:
        raise NoteError("a note's text must be printable text lines")


def sign(text: str, signers: Iterable[NoteSigner]) -> str:
    """The signed note of text."""
    _check_text(text)
    lines = []
    for signer in signers:
        blob = signer.key_id.to_bytes(4, "big") + signer.sign(text.encode())
        lines.append(f"{DASH} {signer.name} {base64.b64encode(blob).decode()}\n")
    if not lines:
        raise NoteError("a note needs at least one signature")
    return text + "\n" + "".join(lines)


@dataclass(frozen=True)
class Opened:
    """A note's text, and the names of the known keys whose signatures verified."""

    text: str
    verified: tuple[str, ...]


def open_note(note: str, verifiers: Iterable[NoteVerifier]) -> Opened:
    """The text of a note signed by at least one of verifiers; NoteError otherwise.

    A signature by an unknown key is skipped (another witness may have added it); one
    that claims a known key but does not verify refuses the whole note.
    """
    known = {(v.name, v.key_id): v for v in verifiers}
    text, sep, block = note.rpartition("\n\n")
    if not sep:
        raise NoteError("a signed note has a blank line before its signatures")
    text += "\n"
    _check_text(text)
    if not block.endswith("\n"):
        raise NoteError("a note's last signature line must end with a newline")
    lines = block[:-1].split("\n")
    if not 0 < len(lines) <= _MAX_SIGNATURES:
        raise NoteError("a note has 1 to 100 signatures")
    verified: list[str] = []
    for line in lines:
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != DASH or not name or not encoded or " " in encoded:
            raise NoteError("a signature line is '— <name> <base64>'")
        blob = _b64decode(encoded, "a signature")
        if len(blob) < 5:
            raise NoteError("a signature is a 4-byte key id and the signature")
        verifier = known.get((name, int.from_bytes(blob[:4], "big")))
        if verifier is None:
            continue
        if not verifier.verify(text.encode(), blob[4:]):
            raise NoteError(f"the signature of {name!r} does not verify")
        verified.append(name)
    if not verified:
        raise NoteError("the note carries no signature by a known key")
    return Opened(text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A log's origin, size and root hash (and extension lines), as a note's text."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """A checkpoint from a note's (already opened) text."""
        _check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has an origin, a size and a root hash")
        origin, size, root = lines[:3]
        if (
            not origin
            or not size.isascii()
            or not size.isdigit()
            or (len(size) > 1 and size[0] == "0")
        ):
            raise NoteError("a checkpoint's size is a decimal number without leading zeros")
        raw = _b64decode(root, "the checkpoint's root")
        if len(raw) != 32:
            raise NoteError("a checkpoint's root is a 32-byte SHA-256 hash")
        return cls(origin, int(size), raw, tuple(lines[3:]))
