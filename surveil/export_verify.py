"""verify.py: check a surveil export package offline, with Python 3 and ``cryptography`` only.

This one file is both surveil's own package verifier (``surveil verify PACKAGE.zip``) and
the ``verify.py`` copied into every package, so a party, a lawyer or a court checks the
package with the very code the recorder uses, and can read all of it: it imports nothing
from surveil and nothing third-party but ``cryptography`` (for Ed25519). Usage::

    python3 -m venv v && v/bin/pip install cryptography
    v/bin/python verify.py PACKAGE.zip [--key KEYLINE|FILE] [--json]

(or ``python3 verify.py`` inside the unzipped folder). It checks, in order, and prints
each check: the manifest's signature (``manifest.sig``: Ed25519 over the exact bytes of
``manifest.json``) and the checkpoint note's signature against ``log_key`` (and, with
``--key``, that ``log_key`` is the key the party obtained separately); every file's size
and SHA-256 against the manifest, and that ``segments/`` holds exactly the listed files;
every segment's leaf (RFC 9162 leaf input, canonical JSON) against the file's hash,
size, camera, name and times; every inclusion proof (RFC 9162 §2.1.3.2) against the
checkpoint's root; the custody steps' leaves and proofs; and that every media sample of
each ``clips/…`` file is byte-identical to the corresponding sample of its segments
(fMP4 moof/trun/mdat parsed here, in pure Python). Exit 0 only when every check holds;
otherwise the first failing item is named.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import io
import json
import os
import struct
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

FORMAT = "surveil-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
TIMESTAMP = "manifest.tsr"
SEGMENTS_DIR = "segments/"
CLIPS_DIR = "clips/"
_CHUNK = 1 << 20
# One fragment's mdat is read whole to cut its samples; a GOP is far below this, and a
# package claiming more is refused rather than exhausting the checker's memory.
_MAX_MDAT = 512 << 20
_DASH = "\u2014"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


# --- the report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One thing checked: what (name), on which item, whether it held, and why not."""

    name: str
    item: str
    ok: bool
    detail: str = ""

    def as_json(self) -> dict[str, object]:
        return {"check": self.name, "item": self.item, "ok": self.ok, "detail": self.detail}


@dataclass
class Report:
    """Every check made on one package; ok only when all held."""

    package: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((c for c in self.checks if not c.ok), None)

    def add(self, name: str, item: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, item, ok, detail))
        return ok

    def as_json(self) -> dict[str, object]:
        first = self.first_failure
        return {
            "package": self.package,
            "ok": self.ok,
            "checks": [c.as_json() for c in self.checks],
            "first_failure": None if first is None else first.as_json(),
        }


class PackageError(Exception):
    """The package cannot be read at all (not a zip or folder, no manifest)."""


# --- reading a zip or a folder ----------------------------------------------------------


class _Source:
    """The package's files, from a zip or an unzipped folder, by their names inside it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self._root = path
        elif zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            self._root = path
        else:
            raise PackageError(f"{path} is neither a zip file nor a folder")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def names(self) -> list[str]:
        """Every regular file's name, '/'-separated, relative to the package root."""
        if self._zip is not None:
            return [i.filename for i in self._zip.infolist() if not i.is_dir()]
        out = []
        for dirpath, _dirs, files in os.walk(self._root):
            for name in files:
                full = Path(dirpath) / name
                out.append(full.relative_to(self._root).as_posix())
        return sorted(out)

    def _safe(self, name: str) -> str:
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or ".." in parts or "\\" in name:
            raise PackageError(f"the manifest names a file outside the package: {name!r}")
        return name

    def exists(self, name: str) -> bool:
        name = self._safe(name)
        if self._zip is not None:
            try:
                self._zip.getinfo(name)
            except KeyError:
                return False
            return True
        return (self._root / name).is_file()

    def open(self, name: str) -> IO[bytes]:
        name = self._safe(name)
        if self._zip is not None:
            return self._zip.open(name)
        return open(self._root / name, "rb")

    def read(self, name: str) -> bytes:
        with self.open(name) as f:
            return f.read()


def _hash_file(src: _Source, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with src.open(name) as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# --- RFC 9162 hashing and proofs (written from the RFC, like tlog/ but independent) -------


def leaf_hash(leaf_input: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that proof leads to from leaf hash `leaf` at index in a tree of size
    (RFC 9162 §2.1.3.2); ValueError when the proof has the wrong length."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ValueError("the proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is shorter than the tree is high")
    return r


# --- C2SP signed notes and Ed25519 keys --------------------------------------------------


@dataclass(frozen=True)
class Key:
    """A verifier key line: name, 4-byte key id, Ed25519 public key."""

    name: str
    key_id: int
    public: bytes

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None


def parse_key(line: str) -> Key:
    """`<name>+<8 hex id>+<base64(0x01 ‖ key)>`; ValueError if malformed or its id is wrong."""
    name, _, rest = line.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not name or any(c.isspace() for c in name):
        raise ValueError("a key line starts with the key's name")
    if len(hex_id) != 8 or any(c not in "0123456789abcdef" for c in hex_id):
        raise ValueError("a key's id is 8 lower-case hex digits")
    raw = _b64(encoded, "the key")
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("only Ed25519 keys (algorithm 1, 32 bytes) are supported")
    digest = hashlib.sha256(name.encode() + b"\n" + raw[:1] + raw[1:]).digest()
    if int.from_bytes(digest[:4], "big") != int(hex_id, 16):
        raise ValueError("the key's id does not match its name and key")
    return Key(name, int(hex_id, 16), raw[1:])


@dataclass(frozen=True)
class CheckpointNote:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: str, key: Key) -> CheckpointNote:
    """The checkpoint in a signed note, once key's signature on it verifies (signatures by
    other keys, e.g. an SM2 co-signature, are skipped); ValueError otherwise."""
    text, sep, block = note.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise ValueError("a signed note is text, a blank line, then signature lines")
    text += "\n"
    signed = False
    for line in block[:-1].split("\n"):
        dash, _, rest = line.partition(" ")
        name, _, encoded = rest.partition(" ")
        if dash != _DASH or not name or not encoded:
            raise ValueError("a signature line is '— <name> <base64>'")
        blob = _b64(encoded, "a signature")
        if name != key.name or len(blob) < 5 or int.from_bytes(blob[:4], "big") != key.key_id:
            continue
        if not key.verify(text.encode(), blob[4:]):
            raise ValueError(f"the signature by {name} does not verify")
        signed = True
    if not signed:
        raise ValueError(f"the note carries no signature by the key {key.name}")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise ValueError("a checkpoint has an origin, a size and a root hash")
    root = _b64(lines[2], "the checkpoint's root")
    if len(root) != 32:
        raise ValueError("a checkpoint's root is 32 bytes")
    return CheckpointNote(lines[0], int(lines[1]), root)


# --- fMP4: the samples of each fragment -------------------------------------------------


@dataclass(frozen=True)
class Fragment:
    """One moof+mdat: per track (in traf order) the digest of its samples' entries and
    bytes; offset is the moof's place in the file, for naming."""

    offset: int
    digest: bytes
    has_video: bool
    samples: int


def _boxes(buf: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, body offset, end) of each box in buf[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack_from(">I4s", buf, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ValueError("truncated 64-bit box header")
            (size,) = struct.unpack_from(">Q", buf, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"box {typ!r} at {pos} runs past its parent")
        yield typ, pos, pos + header, pos + size
        pos += size
    if pos != end:
        raise ValueError("trailing bytes after the last box")


def _child(buf: bytes, start: int, end: int, typ: bytes) -> list[tuple[int, int]]:
    return [(body, stop) for t, _off, body, stop in _boxes(buf, start, end) if t == typ]


@dataclass
class _Init:
    handlers: dict[int, bytes]  # track id -> handler type (b"vide", b"soun")
    trex: dict[int, tuple[int, int, int]]  # track id -> default duration, size, flags
    stsd: dict[int, bytes]  # track id -> its stsd box bytes (codec parameters)


def _parse_moov(buf: bytes) -> _Init:
    init = _Init({}, {}, {})
    for moov_body, moov_end in _child(buf, 0, len(buf), b"moov"):
        for trak_body, trak_end in _child(buf, moov_body, moov_end, b"trak"):
            tkhd = _child(buf, trak_body, trak_end, b"tkhd")
            if not tkhd:
                raise ValueError("a trak without tkhd")
            at = tkhd[0][0]
            (track_id,) = struct.unpack_from(">I", buf, at + (20 if buf[at] else 12))
            for mdia_body, mdia_end in _child(buf, trak_body, trak_end, b"mdia"):
                for hdlr_body, _e in _child(buf, mdia_body, mdia_end, b"hdlr"):
                    init.handlers[track_id] = buf[hdlr_body + 8 : hdlr_body + 12]
                for minf_body, minf_end in _child(buf, mdia_body, mdia_end, b"minf"):
                    for stbl_body, stbl_end in _child(buf, minf_body, minf_end, b"stbl"):
                        for t, off, _b, stop in _boxes(buf, stbl_body, stbl_end):
                            if t == b"stsd":
                                init.stsd[track_id] = buf[off:stop]
        for mvex_body, mvex_end in _child(buf, moov_body, moov_end, b"mvex"):
            for trex_body, _e in _child(buf, mvex_body, mvex_end, b"trex"):
                tid, _sdi, dur, size, flags = struct.unpack_from(">IIIII", buf, trex_body + 4)
                init.trex[tid] = (dur, size, flags)
    if not init.handlers:
        raise ValueError("no moov with tracks")
    return init


def _fragment(
    init: _Init, moof: bytes, moof_offset: int, mdat: bytes, mdat_offset: int
) -> Fragment:
    """The sample digest of one fragment; samples are cut from mdat by trun offsets."""
    digest = hashlib.sha256()
    has_video, count = False, 0
    data_end = moof_offset  # where the previous traf's data ended (absolute)
    moof_body = 16 if struct.unpack_from(">I", moof, 0)[0] == 1 else 8
    for traf_body, traf_end in _child(moof, moof_body, len(moof), b"traf"):
        tfhd = _child(moof, traf_body, traf_end, b"tfhd")
        if len(tfhd) != 1:
            raise ValueError("a traf needs one tfhd")
        at = tfhd[0][0]
        (flags, track_id) = struct.unpack_from(">II", moof, at)
        flags &= 0xFFFFFF
        pos = at + 8
        d_dur, d_size, d_flags = init.trex.get(track_id, (0, 0, 0))
        base = moof_offset if flags & 0x020000 else data_end
        if flags & 0x01:
            (base,) = struct.unpack_from(">Q", moof, pos)
            pos += 8
        if flags & 0x02:
            pos += 4
        if flags & 0x08:
            (d_dur,) = struct.unpack_from(">I", moof, pos)
            pos += 4
        if flags & 0x10:
            (d_size,) = struct.unpack_from(">I", moof, pos)
            pos += 4
        if flags & 0x20:
            (d_flags,) = struct.unpack_from(">I", moof, pos)
        if track_id not in init.handlers:
            raise ValueError(f"fragment track {track_id} is not in the init segment")
        is_video = init.handlers[track_id] == b"vide"
        digest.update(struct.pack(">I4s", track_id, init.handlers[track_id]))
        cursor = base
        for trun_body, _trun_end in _child(moof, traf_body, traf_end, b"trun"):
            (vflags, n) = struct.unpack_from(">II", moof, trun_body)
            tflags = vflags & 0xFFFFFF
            pos = trun_body + 8
            if tflags & 0x01:
                (off,) = struct.unpack_from(">i", moof, pos)
                cursor = base + off
                pos += 4
            first_flags = None
            if tflags & 0x04:
                (first_flags,) = struct.unpack_from(">I", moof, pos)
                pos += 4
            for i in range(n):
                dur, size, sflags, cto = d_dur, d_size, d_flags, 0
                if tflags & 0x100:
                    (dur,) = struct.unpack_from(">I", moof, pos)
                    pos += 4
                if tflags & 0x200:
                    (size,) = struct.unpack_from(">I", moof, pos)
                    pos += 4
                if tflags & 0x400:
                    (sflags,) = struct.unpack_from(">I", moof, pos)
                    pos += 4
                elif i == 0 and first_flags is not None:
                    sflags = first_flags
                if tflags & 0x800:
                    (cto,) = struct.unpack_from(">I", moof, pos)
                    pos += 4
                lo = cursor - mdat_offset
                if lo < 0 or lo + size > len(mdat):
                    raise ValueError(f"a sample of track {track_id} lies outside its mdat")
                digest.update(struct.pack(">IIII", dur, size, sflags, cto))
                digest.update(hashlib.sha256(mdat[lo : lo + size]).digest())
                cursor += size
                count += 1
                has_video = has_video or is_video
        data_end = cursor
    return Fragment(moof_offset, digest.digest(), has_video, count)


def read_fragments(f: IO[bytes]) -> tuple[_Init, list[Fragment]]:
    """The init segment and every fragment of an fMP4 file, read sequentially (one
    fragment in memory at a time)."""
    init_bytes = bytearray()
    init: _Init | None = None
    frags: list[Fragment] = []
    pos = 0
    moof: bytes | None = None
    moof_at = 0
    while True:
        head = f.read(8)
        if not head:
            break
        if len(head) < 8:
            raise ValueError(f"truncated box header at {pos}")
        size, typ = struct.unpack(">I4s", head)
        extra = b""
        if size == 1:
            extra = f.read(8)
            (size,) = struct.unpack(">Q", extra)
        if size < 8 + len(extra):
            raise ValueError(f"box {typ!r} at {pos} has an invalid size")
        body_len = size - 8 - len(extra)
        if typ == b"mdat":
            if moof is None or init is None:
                raise ValueError(f"mdat at {pos} without a moof before it")
            if body_len > _MAX_MDAT:
                raise ValueError(f"mdat at {pos} is larger than {_MAX_MDAT} bytes")
            body = f.read(body_len)
            if len(body) != body_len:
                raise ValueError(f"mdat at {pos} is truncated")
            frags.append(_fragment(init, moof, moof_at, body, pos + 8 + len(extra)))
            moof = None
        elif typ in (b"ftyp", b"moov", b"moof"):
            if body_len > _MAX_MDAT:
                raise ValueError(f"box {typ!r} at {pos} is implausibly large")
            body = f.read(body_len)
            if len(body) != body_len:
                raise ValueError(f"box {typ!r} at {pos} is truncated")
            whole = head + extra + body
            if typ == b"moof":
                if init is None:
                    raise ValueError("a moof before the moov")
                moof, moof_at = whole, pos
            else:
                init_bytes += whole
                if typ == b"moov":
                    init = _parse_moov(bytes(init_bytes))
        else:  # free, mfra, sidx, ...: skipped, they carry no samples
            skipped = f.read(body_len)
            if len(skipped) != body_len:
                raise ValueError(f"box {typ!r} at {pos} is truncated")
        pos += size
    if init is None:
        raise ValueError("no init segment (ftyp+moov)")
    return init, frags


def match_clip(
    clip: tuple[_Init, list[Fragment]], segments: Sequence[tuple[str, _Init, list[Fragment]]]
) -> str | None:
    """None when every fragment of the clip has the samples of a fragment of its segments,
    in order, the clip's codec parameters are the segments', and no video fragment is
    skipped between its first and last; otherwise what is wrong."""
    clip_init, clip_frags = clip
    if not clip_frags:
        return "the clip has no fragments"
    flat = [(name, fr) for name, _i, frs in segments for fr in frs]
    for name, init, _f in segments:
        if init.stsd != clip_init.stsd or init.handlers != clip_init.handlers:
            return f"the clip's codec parameters (stsd) differ from those of {name}"
    j = next((k for k, (_n, fr) in enumerate(flat) if fr.digest == clip_frags[0].digest), None)
    if j is None:
        return f"fragment 1 of the clip (at byte {clip_frags[0].offset}) is in none of its segments"
    for n, frag in enumerate(clip_frags[1:], start=2):
        j += 1
        # The clip drops an audio-only fragment at a segment's end (it would overlap the
        # next segment's audio); any fragment with video must follow on.
        while j < len(flat) and flat[j][1].digest != frag.digest and not flat[j][1].has_video:
            j += 1
        if j >= len(flat) or flat[j][1].digest != frag.digest:
            where = (
                "past the end of its segments"
                if j >= len(flat)
                else (f"where {flat[j][0]} has the fragment at byte {flat[j][1].offset}")
            )
            return (
                f"fragment {n} of the clip (at byte {frag.offset}) differs from its "
                f"segments' samples, {where}"
            )
    return None


# --- the leaf ---------------------------------------------------------------------------


def canonical(record: object) -> bytes:
    """RFC 8785-compatible JSON (the log's leaves hold no floats)."""
    return json.dumps(
        record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode()


def _leaf_record(leaf: bytes, kind: str) -> dict[str, Any]:
    record = json.loads(leaf.decode())
    if not isinstance(record, dict) or record.get("kind") != kind:
        raise ValueError(f"the leaf is not a {kind} entry")
    if canonical(record) != leaf:
        raise ValueError("the leaf is not canonical JSON")
    return record


# --- the checks -------------------------------------------------------------------------


def _load_key(value: str) -> Key:
    """--key: a key line, or a file holding one."""
    text = value
    if "+" not in value or os.path.isfile(value):
        text = Path(value).read_text(encoding="utf-8")
    return parse_key(text.strip())


def verify_package(path: str | os.PathLike[str], key: str | None = None) -> Report:
    """Check the package (a zip or an unzipped folder) at path; key: a verifier key line,
    or a file holding one, obtained separately (log_key must then equal it)."""
    report = Report(str(path))
    try:
        src = _Source(Path(path))
    except (OSError, PackageError) as exc:
        report.add("package", str(path), False, str(exc))
        return report
    try:
        _verify(src, report, key)
    except PackageError as exc:
        report.add("package", str(path), False, str(exc))
    finally:
        src.close()
    return report


def _verify(src: _Source, report: Report, key_arg: str | None) -> None:
    if not src.exists(MANIFEST):
        raise PackageError(f"no {MANIFEST} in the package")
    raw = src.read(MANIFEST)
    try:
        manifest = json.loads(raw.decode())
        if not isinstance(manifest, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise PackageError(f"{MANIFEST} is not JSON: {exc}") from None
    fmt, version = manifest.get("format"), manifest.get("version")
    if not report.add(
        "format",
        MANIFEST,
        fmt == FORMAT and version == FORMAT_VERSION,
        f"format {fmt!r} version {version!r}; this verifier reads {FORMAT} {FORMAT_VERSION}",
    ):
        return

    # 1. Keys and signatures.
    log_key: Key | None = None
    try:
        log_key = parse_key(str(manifest.get("log_key", "")))
        report.add("log_key", "log_key", True, log_key.name)
    except ValueError as exc:
        report.add("log_key", "log_key", False, str(exc))
    if key_arg is not None:
        try:
            trusted = _load_key(key_arg)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            report.add("trusted_key", "--key", False, f"not a key line: {exc}")
        else:
            report.add(
                "trusted_key",
                "log_key",
                log_key == trusted,
                "log_key is the key given with --key"
                if log_key == trusted
                else f"log_key is not the key given with --key ({trusted.name})",
            )
    if log_key is not None:
        sig = src.read(SIGNATURE) if src.exists(SIGNATURE) else None
        ok = sig is not None and log_key.verify(raw, sig)
        report.add(
            "manifest_signature",
            SIGNATURE,
            ok,
            "Ed25519 signature of manifest.json by log_key"
            if ok
            else "missing"
            if sig is None
            else "does not verify against log_key",
        )
    checkpoint: CheckpointNote | None = None
    if log_key is not None:
        try:
            checkpoint = open_checkpoint(str(manifest.get("checkpoint", "")), log_key)
            ok = checkpoint.origin == log_key.name
            report.add(
                "checkpoint_signature",
                "checkpoint",
                ok,
                f"size {checkpoint.size}, origin {checkpoint.origin}"
                if ok
                else f"origin {checkpoint.origin!r} is not the key's log {log_key.name!r}",
            )
        except ValueError as exc:
            report.add("checkpoint_signature", "checkpoint", False, str(exc))
    if src.exists(TIMESTAMP):
        # An RFC 3161 token needs the TSA's certificate chain to check; we name it only.
        report.add("timestamp_present", TIMESTAMP, True, "RFC 3161 token (check with openssl ts)")

    # 2. Files: sizes and hashes, and nothing extra or missing under segments/ and clips/.
    segs = manifest.get("segments") or []
    clips = manifest.get("clips") or []
    listed: dict[str, dict[str, Any]] = {}
    for entry in [*segs, *clips, *(manifest.get("files") or [])]:
        listed[str(entry.get("file"))] = entry
    present = set(src.names())
    for name in sorted(n for n in present if n.startswith((SEGMENTS_DIR, CLIPS_DIR))):
        if name not in listed:
            report.add("file_listed", name, False, "in the package but not in the manifest")
    for name, entry in listed.items():
        if name not in present:
            report.add("file_present", name, False, "listed in the manifest but not in the package")
            continue
        digest, size = _hash_file(src, name)
        ok = digest == entry.get("sha256") and size == entry.get("bytes")
        report.add(
            "file_hash",
            name,
            ok,
            f"{size} bytes, sha256 {digest}"
            if ok
            else f"has {size} bytes, sha256 {digest}; the manifest says "
            f"{entry.get('bytes')} bytes, sha256 {entry.get('sha256')}",
        )

    # 3. Leaves and inclusion proofs.
    window = manifest.get("window") or {}
    for seg in segs:
        name = str(seg.get("file"))
        try:
            leaf = _b64(str(seg.get("leaf", "")), "leaf")
            record = _leaf_record(leaf, "segment")
            camera = PurePosixPath(name).parts[1]
            wrong = [
                what
                for what, ok in (
                    ("sha256", record.get("sha256") == seg.get("sha256")),
                    ("bytes", record.get("bytes") == seg.get("bytes")),
                    ("start_us", record.get("start_us") == seg.get("start_us")),
                    ("end_us", record.get("end_us") == seg.get("end_us")),
                    ("camera", record.get("camera") == camera == seg.get("camera")),
                    (
                        "file name",
                        PurePosixPath(str(record.get("path"))).name == PurePosixPath(name).name,
                    ),
                    (
                        "window",
                        int(seg.get("end_us", 0)) > int(window.get("start_us", 0))
                        and int(seg.get("start_us", 0)) < int(window.get("end_us", 0)),
                    ),
                )
                if not ok
            ]
            report.add(
                "segment_leaf",
                name,
                not wrong,
                "leaf matches the file's hash, size, camera, name and times"
                if not wrong
                else "the leaf does not match the segment: " + ", ".join(wrong),
            )
        except (ValueError, IndexError, UnicodeDecodeError, TypeError) as exc:
            report.add("segment_leaf", name, False, str(exc))
            continue
        _check_proof(report, "segment_inclusion", name, seg, leaf, checkpoint)
    for i, step in enumerate(manifest.get("custody") or [], start=1):
        if step.get("leaf") is None:
            continue
        item = f"custody step {i} ({step.get('step')}, audit {step.get('audit_id')})"
        try:
            leaf = _b64(str(step["leaf"]), "leaf")
            record = _leaf_record(leaf, "audit")
            ok = record.get("id") == step.get("audit_id") and record.get("at_us") == step.get(
                "at_us"
            )
            report.add(
                "custody_leaf",
                item,
                ok,
                "the audit entry's leaf" if ok else "the leaf is not this step's audit entry",
            )
        except (ValueError, UnicodeDecodeError, KeyError) as exc:
            report.add("custody_leaf", item, False, str(exc))
            continue
        _check_proof(report, "custody_inclusion", item, step, leaf, checkpoint)

    # 4. Clips: every sample byte-identical to its segments'.
    seg_files = {str(s.get("file")) for s in segs}
    for clip in clips:
        name = str(clip.get("file"))
        parts = [str(p) for p in clip.get("segments") or []]
        missing = [p for p in parts if p not in seg_files or p not in present]
        if name not in present or missing or not parts:
            report.add(
                "clip_samples",
                name,
                False,
                "the clip or its segments are missing: " + ", ".join(missing or [name]),
            )
            continue
        try:
            with src.open(name) as f:
                clip_frags = read_fragments(f)
            seg_frags = []
            for p in parts:
                with src.open(p) as f:
                    init, frs = read_fragments(f)
                seg_frags.append((p, init, frs))
            problem = match_clip(clip_frags, seg_frags)
        except (ValueError, struct.error) as exc:
            problem = f"cannot be parsed as fMP4: {exc}"
        report.add(
            "clip_samples",
            name,
            problem is None,
            f"{sum(fr.samples for fr in clip_frags[1])} samples, each identical to its "
            f"segment's ({len(parts)} segments)"
            if problem is None
            else problem,
        )


def _check_proof(
    report: Report,
    check: str,
    item: str,
    entry: dict[str, Any],
    leaf: bytes,
    checkpoint: CheckpointNote | None,
) -> None:
    if checkpoint is None:
        report.add(check, item, False, "no verified checkpoint to prove against")
        return
    try:
        index = int(entry["leaf_index"])
        proof = [_b64(str(h), "a proof hash") for h in entry.get("inclusion_proof") or []]
        root = root_from_inclusion(index, checkpoint.size, leaf_hash(leaf), proof)
    except (ValueError, KeyError, TypeError) as exc:
        report.add(check, item, False, str(exc))
        return
    ok = root == checkpoint.root
    report.add(
        check,
        item,
        ok,
        f"leaf {index} is in the log of size {checkpoint.size}"
        if ok
        else f"the proof of leaf {index} does not lead to the checkpoint's root",
    )


# --- the command line -------------------------------------------------------------------


def print_report(report: Report, out: IO[str] | None = None) -> None:
    """The report as text: one line per check, then the verdict naming the first failure."""
    out = out or sys.stdout
    for c in report.checks:
        mark = "ok  " if c.ok else "FAIL"
        print(f"{mark} {c.name:22} {c.item}: {c.detail}", file=out)
    first = report.first_failure
    if report.ok:
        print(f"PACKAGE VERIFIED: {len(report.checks)} checks hold", file=out)
    elif first is not None:
        failed = sum(not c.ok for c in report.checks)
        print(
            f"PACKAGE NOT VERIFIED: {failed} of {len(report.checks)} checks failed; "
            f"first: {first.name} of {first.item}: {first.detail}",
            file=out,
        )
    else:
        print("PACKAGE NOT VERIFIED: nothing could be checked", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """verify.py [PACKAGE] [--key KEYLINE|FILE] [--json]; exit 0 only if every check holds."""
    p = argparse.ArgumentParser(
        prog="verify.py", description="Check a surveil export package offline."
    )
    p.add_argument(
        "package",
        nargs="?",
        help="the package zip or its unzipped folder (default: the folder holding verify.py)",
    )
    p.add_argument(
        "--key",
        help="the recorder's verifier key line (or a file holding it), obtained separately",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    target = args.package or str(Path(__file__).resolve().parent)
    report = verify_package(target, args.key)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print_report(report)
    return EXIT_OK if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", errors="replace")
    sys.exit(main())
