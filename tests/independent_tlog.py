"""An independent verifier for surveil's Merkle log proofs and signed checkpoints.

Written from the specifications alone (RFC 9162 §2.1, c2sp.org/signed-note and
c2sp.org/tlog-checkpoint), without reading or importing the project's `tlog` package, so that
a misreading shared by the log and its own verifier cannot hide: the tests check what the API
serves with this code. It is meant to be read by auditors too, so every step is numbered as in
the RFC and nothing is clever. Standard library plus `cryptography` for Ed25519.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
"""SHA-256 output size: every node of the tree and every proof element is this long."""

_ED25519 = 0x01
"""Signature type byte for Ed25519 (c2sp.org/signed-note, "Signature types")."""

_EM_DASH_SPACE = "\u2014 "
"""Every signature line starts with U+2014 and a space (c2sp.org/signed-note, "Format")."""


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_hash(leaf_input: bytes) -> bytes:
    """Return the hash of a leaf, HASH(0x00 || d) (RFC 9162 §2.1.1)."""
    return _hash(b"\x00" + leaf_input)


def node_hash(l: bytes, r: bytes) -> bytes:  # noqa: E741  (the brief's names: left, right)
    """Return the hash of an interior node, HASH(0x01 || left || right) (RFC 9162 §2.1.1)."""
    return _hash(b"\x01" + l + r)


def _check_proof_hashes(proof: Sequence[bytes]) -> None:
    """Reject proof elements that cannot be node hashes, before any arithmetic on them."""
    for element in proof:
        if not isinstance(element, bytes) or len(element) != HASH_SIZE:
            raise ValueError("proof element is not a 32-byte hash")


def root_from_inclusion_hash(index: int, size: int, hash_: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root an inclusion proof for a leaf *hash* leads to (RFC 9162 §2.1.3.2).

    The steps are numbered as in the RFC; step 5's comparison with the root is left to the
    caller (`check_inclusion`). Raises ValueError if the index is outside the tree or the proof
    is longer or shorter than the path from that leaf to the root.
    """
    _check_proof_hashes(proof)
    # 1. leaf_index >= tree_size fails (a negative index is no leaf either).
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn, sn = index, size - 1
    # 3. r = hash.
    r = hash_
    # 4. For each p in the inclusion path:
    for p in proof:
        # a. sn == 0: the path has already reached the root, so the proof is too long.
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        # b. LSB(fn) set, or fn == sn: p is a left sibling.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # ii. Skip the levels where this node has no right sibling.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise p is a right sibling.
            r = node_hash(r, p)
        # c. Right-shift both once.
        fn >>= 1
        sn >>= 1
    # 5. sn must be 0, or the proof is too short.
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return r


def root_from_inclusion(index: int, size: int, leaf_input: bytes, proof: list[bytes]) -> bytes:
    """Return the root an inclusion proof for `leaf_input` leads to (RFC 9162 §2.1.3.2)."""
    return root_from_inclusion_hash(index, size, leaf_hash(leaf_input), proof)


def check_inclusion(
    index: int, size: int, leaf_input: bytes, proof: list[bytes], root: bytes
) -> None:
    """Raise ValueError unless `proof` shows `leaf_input` at `index` under `root` (§2.1.3.2)."""
    if root_from_inclusion(index, size, leaf_input, proof) != root:
        raise ValueError("inclusion proof does not lead to the root")


def check_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    """Raise ValueError unless `proof` shows tree `first` is a prefix of tree `second`.

    RFC 9162 §2.1.4.2 defines the check for 0 < first < second, with the steps numbered as
    below. The two edge cases it leaves out have nothing to prove, so their proof must be
    empty: equal sizes must have equal roots, and an empty first tree must have the empty-tree
    root MTH({}) = HASH() (§2.1.1), since the empty tree is a prefix of every tree.
    """
    _check_proof_hashes(proof)
    if not 0 <= first <= second:
        raise ValueError(f"tree size {first} cannot precede tree size {second}")
    if first == second or first == 0:
        if proof:
            raise ValueError("consistency proof must be empty when there is nothing to prove")
        expected = second_root if first == second else _hash(b"")
        if first_root != expected:
            raise ValueError("first root does not match")
        return
    # 1. An empty consistency path fails.
    if not proof:
        raise ValueError("consistency proof is empty")
    path = list(proof)
    # 2. If first is an exact power of 2, prepend first_hash.
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    # 3. fn = first - 1, sn = second - 1.
    fn, sn = first - 1, second - 1
    # 4. While LSB(fn) is set, right-shift both.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5. fr = sr = the first value of the path.
    fr = sr = path[0]
    # 6. For each subsequent value c:
    for c in path[1:]:
        # a. sn == 0: the proof is too long.
        if sn == 0:
            raise ValueError("consistency proof is too long")
        # b. LSB(fn) set, or fn == sn: c is a left sibling, part of both trees.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii. Skip the levels where this node has no right sibling.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            # Otherwise c is a right sibling that only the second tree has.
            sr = node_hash(sr, c)
        # c. Right-shift both once.
        fn >>= 1
        sn >>= 1
    # 7. fr must be first_hash, sr second_hash, and sn 0.
    if sn != 0:
        raise ValueError("consistency proof is too short")
    if fr != first_root:
        raise ValueError("consistency proof does not lead to the first root")
    if sr != second_root:
        raise ValueError("consistency proof does not lead to the second root")


def _b64decode(text: str) -> bytes:
    """Decode standard base64 (RFC 4648 §4), accepting only its one canonical spelling."""
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("base64 is not canonical")
    return raw


def _check_key_name(name: str) -> None:
    """Key names are non-empty, with no Unicode space and no '+' (c2sp.org/signed-note)."""
    if not name or "+" in name or any(ch.isspace() for ch in name):
        raise ValueError(f"invalid key name {name!r}")


def _key_id(name: str, public_key: bytes) -> bytes:
    """Return SHA-256(key name || 0x0A || 0x01 || public key)[:4] (c2sp.org/signed-note)."""
    return _hash(name.encode("utf-8") + b"\n" + bytes([_ED25519]) + public_key)[:4]


def parse_verifier_key(line: str) -> tuple[str, bytes, bytes]:
    """Parse `<name>+<hex key id>+<base64(0x01 || key)>` into (name, key id, Ed25519 key).

    c2sp.org/signed-note, "Verifier keys". The base64 part may itself contain '+', hence at
    most two splits. The key id must be the one the name and key imply.
    """
    parts = line.split("+", 2)
    if len(parts) != 3:
        raise ValueError("verifier key is not name+id+key")
    name, id_hex, key_b64 = parts
    _check_key_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", id_hex):
        raise ValueError("key id is not 8 lowercase hex digits")
    blob = _b64decode(key_b64)
    if len(blob) != 1 + 32 or blob[0] != _ED25519:
        raise ValueError("verifier key is not an Ed25519 key")
    public_key = blob[1:]
    key_id = bytes.fromhex(id_hex)
    if key_id != _key_id(name, public_key):
        raise ValueError("key id does not match the key name and public key")
    return name, key_id, public_key


def open_note(note: str, verifier_key: str) -> str:
    """Return the text of a signed note after verifying its signature by `verifier_key`.

    c2sp.org/signed-note, "Format" and "Signatures": the text (ending in a newline) is
    separated from the signature lines by the note's last blank line; lines by other keys
    (name or id differs) are ignored, a line by this key must verify, and at least one must.
    """
    name, key_id, public_key = parse_verifier_key(verifier_key)
    note.encode("utf-8")  # a str with lone surrogates is not valid UTF-8: UnicodeError
    if any(ch < " " and ch != "\n" for ch in note):
        raise ValueError("note contains a control character")
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("note has no blank line before its signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        raise ValueError("note has no signature lines, or they do not end in a newline")
    verifier = Ed25519PublicKey.from_public_bytes(public_key)
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith(_EM_DASH_SPACE):
            raise ValueError("signature line does not start with an em dash and a space")
        signer, space, sig_b64 = line[len(_EM_DASH_SPACE) :].partition(" ")
        if not space:
            raise ValueError("signature line has no signature")
        _check_key_name(signer)
        blob = _b64decode(sig_b64)
        if len(blob) < 5:
            raise ValueError("signature is too short")
        if signer != name or blob[:4] != key_id:
            continue  # another key's signature: ignored, as the spec requires
        if len(blob) != 4 + 64:
            raise ValueError("Ed25519 signature is not 64 bytes")
        try:
            verifier.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ValueError(f"signature by {name} does not verify") from None
        verified = True
    if not verified:
        raise ValueError(f"note has no signature by {name}")
    return text


def _parse_checkpoint_text(text: str) -> tuple[str, int, bytes]:
    """Parse a checkpoint body: origin, size, root, then extension lines (tlog-checkpoint)."""
    lines = text[:-1].split("\n")  # open_note's text always ends in a newline
    if len(lines) < 3 or "" in lines:
        raise ValueError("checkpoint needs at least three lines, none of them empty")
    origin, size_line, root_line = lines[0], lines[1], lines[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size_line):
        raise ValueError("tree size is not a decimal number without leading zeroes")
    size = int(size_line)
    if size >= 1 << 64:
        raise ValueError("tree size does not fit in 64 bits")
    root = _b64decode(root_line)
    if len(root) != HASH_SIZE:
        raise ValueError("root hash is not 32 bytes")
    return origin, size, root


def open_checkpoint(note: str, verifier_key: str) -> tuple[str, int, bytes]:
    """Verify a signed checkpoint and return (origin, tree size, root hash).

    The note must carry a valid signature by `verifier_key` (c2sp.org/signed-note) and its text
    must be a checkpoint body (c2sp.org/tlog-checkpoint). Whether the origin is the expected log
    is the caller's check: the spec only says the key name SHOULD match it.
    """
    return _parse_checkpoint_text(open_note(note, verifier_key))
