"""Checks the independent RFC 9162 / C2SP verifier before the API tests rely on it.

A verifier that accepts everything would make the API tests pass vacuously, so it is held to
published data: the transparency-dev/merkle vectors (read in place from the shared test data),
the RFC 6962 reference roots, the Go sumdb/note and c2sp.org/signed-note example notes, and
every proof of every tree up to 33 leaves built from the RFC's recursive definitions. Each
accepted case is paired with mutations that must be rejected.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.independent_tlog import (
    check_consistency,
    check_inclusion,
    leaf_hash,
    node_hash,
    open_checkpoint,
    open_note,
    parse_verifier_key,
    root_from_inclusion,
    root_from_inclusion_hash,
)

VECTORS = Path(__file__).resolve().parents[2] / "shared/testdata/merkle"

# --- published data ------------------------------------------------------------------------


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True)
class InclusionVector:
    """One `inclusion/*/*.json` file (format in the vectors' README.md)."""

    index: int
    size: int
    root: bytes
    leaf_hash: bytes
    proof: list[bytes]
    want_err: bool


@dataclass(frozen=True)
class ConsistencyVector:
    """One `consistency/*/*.json` file (format in the vectors' README.md)."""

    size1: int
    size2: int
    root1: bytes
    root2: bytes
    proof: list[bytes]
    want_err: bool


def _vector_files(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).glob("*/*.json"))


def _inclusion_vector(path: Path) -> InclusionVector:
    raw = json.loads(path.read_text())
    return InclusionVector(
        index=raw["leafIdx"],
        size=raw["treeSize"],
        root=_b64(raw["root"]),
        leaf_hash=_b64(raw["leafHash"]),
        proof=[_b64(p) for p in raw["proof"] or []],  # JSON null is an empty proof
        want_err=raw["wantErr"],
    )


def _consistency_vector(path: Path) -> ConsistencyVector:
    raw = json.loads(path.read_text())
    return ConsistencyVector(
        size1=raw["size1"],
        size2=raw["size2"],
        root1=_b64(raw["root1"]),
        root2=_b64(raw["root2"]),
        proof=[_b64(p) for p in raw["proof"] or []],
        want_err=raw["wantErr"],
    )


def _reference() -> tuple[list[bytes], list[bytes]]:
    """The eight RFC 6962 reference leaf inputs and the root of each prefix (sizes 0-8)."""
    raw = json.loads((VECTORS / "rfc6962-roots.json").read_text())
    leaves = [bytes.fromhex(h) for h in raw["leaf_inputs_hex"]]
    roots = [bytes.fromhex(h) for h in raw["root_by_tree_size_hex"]]
    return leaves, roots


INCLUSION_FILES = _vector_files("inclusion")
CONSISTENCY_FILES = _vector_files("consistency")


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_vectors_are_there() -> None:
    """An empty or moved vector directory must fail, not parametrize into zero tests."""
    assert len(INCLUSION_FILES) >= 6, VECTORS
    assert len(CONSISTENCY_FILES) >= 6, VECTORS
    leaves, roots = _reference()
    assert len(leaves) == 8
    assert len(roots) == 9


# --- a reference tree from RFC 9162's recursive definitions --------------------------------


def _split(n: int) -> int:
    """The largest power of two smaller than n, for n > 1 (RFC 9162 §2.1.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]), RFC 9162 §2.1.1."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = _split(len(leaves))
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 §2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


def _subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1; PROOF(m, D[n]) is SUBPROOF(m, D[n], true)."""
    if m == len(leaves):
        return [] if whole else [_mth(leaves)]
    k = _split(len(leaves))
    if m <= k:
        return [*_subproof(m, leaves[:k], whole), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def test_reference_tree_matches_rfc6962_roots() -> None:
    """The generator below is trusted only because it reproduces the published roots."""
    leaves, roots = _reference()
    for n, root in enumerate(roots):
        assert _mth(leaves[:n]) == root, n


SYNTHETIC = [b"leaf %d" % i for i in range(34)]
"""Leaves for every tree up to 33 leaves, and one more for the size + 1 cases."""
LARGEST = 33

# --- mutations that must be rejected -------------------------------------------------------


def _flip(data: bytes, bit: int = 0) -> bytes:
    return data[: bit // 8] + bytes([data[bit // 8] ^ (1 << bit % 8)]) + data[bit // 8 + 1 :]


EXTRA = hashlib.sha256(b"an extra hash").digest()


def _proof_mutations(proof: list[bytes]) -> dict[str, list[bytes]]:
    """Every proof element with a bit flipped, the proof truncated, and an extra hash."""
    out = {
        f"bit {b} of hash {i}": [*proof[:i], _flip(p, b), *proof[i + 1 :]]
        for i, p in enumerate(proof)
        for b in (0, 255)
    }
    if proof:
        out["last hash dropped"] = proof[:-1]
        out["first hash dropped"] = proof[1:]
    out["extra hash before"] = [EXTRA, *proof]
    out["extra hash after"] = [*proof, EXTRA]
    return out


def _assert_inclusion_rejects(
    index: int, size: int, hash_: bytes, proof: list[bytes], root: bytes
) -> None:
    """Every mutation of an accepted inclusion proof must fail."""
    cases: dict[str, tuple[int, int, list[bytes], bytes]] = {
        name: (index, size, bad, root) for name, bad in _proof_mutations(proof).items()
    }
    cases["wrong root"] = (index, size, proof, _flip(root))
    if proof:  # with no proof the leaf hash *is* the root
        cases["leaf hash as root"] = (index, size, proof, hash_)
    cases["index - 1"] = (index - 1, size, proof, root)
    cases["index + 1"] = (index + 1, size, proof, root)
    cases["size * 2"] = (index, size * 2, proof, root)
    cases["size // 2"] = (index, size // 2, proof, root)
    for name, (i, n, p, r) in cases.items():
        with pytest.raises(ValueError):
            if root_from_inclusion_hash(i, n, hash_, p) != r:
                raise ValueError("root mismatch")
            pytest.fail(f"accepted with {name}")
    # A proof of the wrong length is malformed, whatever root it would lead to (§2.1.3.2).
    malformed = [[EXTRA, *proof], [*proof, EXTRA]] + ([proof[:-1]] if proof else [])
    for bad in malformed:
        with pytest.raises(ValueError, match=r"too (long|short)"):
            root_from_inclusion_hash(index, size, hash_, bad)


def _assert_consistency_rejects(
    m: int, n: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> None:
    """Every mutation of an accepted consistency proof must fail."""
    cases: dict[str, tuple[int, int, bytes, bytes, list[bytes]]] = {
        name: (m, n, root1, root2, bad) for name, bad in _proof_mutations(proof).items()
    }
    cases["wrong first root"] = (m, n, _flip(root1), root2, proof)
    cases["wrong second root"] = (m, n, root1, _flip(root2), proof)
    if root1 != root2:
        cases["roots swapped"] = (m, n, root2, root1, proof)
    if m != n:
        cases["size1 > size2"] = (n, m, root2, root1, proof)
    cases["size2 * 2"] = (m, n * 2, root1, root2, proof)
    for name, (a, b, r1, r2, p) in cases.items():
        with pytest.raises(ValueError):
            check_consistency(a, b, r1, r2, p)
            pytest.fail(f"accepted with {name}")
    if 0 < m < n:  # a proof of the wrong length is malformed (§2.1.4.2 steps 6a and 7)
        for bad in ([EXTRA, *proof], [*proof, EXTRA], proof[:-1]):
            with pytest.raises(ValueError, match=r"too (long|short)|empty"):
                check_consistency(m, n, root1, root2, bad)


# --- inclusion -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _inclusion_vector(path)
    if v.want_err:
        with pytest.raises(ValueError):
            if root_from_inclusion_hash(v.index, v.size, v.leaf_hash, v.proof) != v.root:
                raise ValueError("root mismatch")
        return
    assert root_from_inclusion_hash(v.index, v.size, v.leaf_hash, v.proof) == v.root
    _assert_inclusion_rejects(v.index, v.size, v.leaf_hash, v.proof, v.root)
    leaves, roots = _reference()
    if v.size <= 8 and v.root == roots[v.size] and leaf_hash(leaves[v.index]) == v.leaf_hash:
        # The same proof from the leaf's input, and size +- 1 with that size's own root.
        check_inclusion(v.index, v.size, leaves[v.index], v.proof, v.root)
        for size in (v.size - 1, v.size + 1):
            if 0 <= size <= 8:
                with pytest.raises(ValueError):
                    check_inclusion(v.index, size, leaves[v.index], v.proof, roots[size])


def test_every_inclusion_proof_up_to_33_leaves() -> None:
    for n in range(1, LARGEST + 1):
        leaves = SYNTHETIC[:n]
        root = _mth(leaves)
        for m in range(n):
            proof = _path(m, leaves)
            assert root_from_inclusion(m, n, leaves[m], proof) == root
            check_inclusion(m, n, leaves[m], proof, root)
            _assert_inclusion_rejects(m, n, leaf_hash(leaves[m]), proof, root)
            with pytest.raises(ValueError):
                check_inclusion(m, n, leaves[m] + b"!", proof, root)
            for size in (n - 1, n + 1):
                with pytest.raises(ValueError):
                    check_inclusion(m, size, leaves[m], proof, _mth(SYNTHETIC[:size]))


def test_the_size_is_bound_by_the_root_not_by_the_proof() -> None:
    """RFC 9162's algorithm sees the size only through the path's shape.

    Leaf 5 has the same path shape in trees of 7 and 8 leaves, so the size-8 proof and root
    also "verify" for size 7. Only the root tells the sizes apart, which is why a caller must
    take the size and the root from the same signed checkpoint.
    """
    leaves = SYNTHETIC[:8]
    check_inclusion(5, 7, leaves[5], _path(5, leaves), _mth(leaves))
    with pytest.raises(ValueError):
        check_inclusion(5, 7, leaves[5], _path(5, leaves), _mth(leaves[:7]))


def test_inclusion_rejects_malformed_input() -> None:
    leaves = SYNTHETIC[:5]
    proof, root = _path(2, leaves), _mth(leaves)
    with pytest.raises(ValueError):
        check_inclusion(2, 5, leaves[2], [proof[0][:31], *proof[1:]], root)
    with pytest.raises(ValueError):
        check_inclusion(-1, 5, leaves[2], proof, root)
    with pytest.raises(ValueError):
        check_inclusion(5, 5, leaves[2], proof, root)
    with pytest.raises(ValueError):
        check_inclusion(0, 0, leaves[0], [], _mth([]))


# --- consistency ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _consistency_vector(path)
    if v.want_err:
        with pytest.raises(ValueError):
            check_consistency(v.size1, v.size2, v.root1, v.root2, v.proof)
        return
    check_consistency(v.size1, v.size2, v.root1, v.root2, v.proof)
    _assert_consistency_rejects(v.size1, v.size2, v.root1, v.root2, v.proof)
    _, roots = _reference()
    if v.size2 <= 8 and (v.root1, v.root2) == (roots[v.size1], roots[v.size2]):
        # Either size +- 1, each with its own reference root.
        for a, b in (
            (v.size1 - 1, v.size2),
            (v.size1 + 1, v.size2),
            (v.size1, v.size2 - 1),
            (v.size1, v.size2 + 1),
        ):
            if 0 <= a <= b <= 8 and (a > 0 or v.proof):  # size 0, empty proof: consistent
                with pytest.raises(ValueError):
                    check_consistency(a, b, roots[a], roots[b], v.proof)


def test_every_consistency_proof_up_to_33_leaves() -> None:
    for n in range(1, LARGEST + 1):
        for m in range(1, n + 1):
            proof = _subproof(m, SYNTHETIC[:n], True)
            root1, root2 = _mth(SYNTHETIC[:m]), _mth(SYNTHETIC[:n])
            check_consistency(m, n, root1, root2, proof)
            _assert_consistency_rejects(m, n, root1, root2, proof)
            for a, b in ((m - 1, n), (m + 1, n), (m, n - 1), (m, n + 1)):
                if 0 <= a <= b and (a > 0 or proof):  # size 0, empty proof: consistent
                    with pytest.raises(ValueError):
                        check_consistency(a, b, _mth(SYNTHETIC[:a]), _mth(SYNTHETIC[:b]), proof)


def test_consistency_edge_cases() -> None:
    empty, root3 = _mth([]), _mth(SYNTHETIC[:3])
    check_consistency(0, 3, empty, root3, [])  # the empty tree is a prefix of every tree
    check_consistency(0, 0, empty, empty, [])
    with pytest.raises(ValueError):
        check_consistency(0, 3, root3, root3, [])  # size 0 with a non-empty tree's root
    with pytest.raises(ValueError):
        check_consistency(0, 3, empty, root3, [root3])
    with pytest.raises(ValueError):
        check_consistency(3, 3, root3, _flip(root3), [])
    with pytest.raises(ValueError):
        check_consistency(2, 3, _mth(SYNTHETIC[:2]), root3, [])  # RFC step 1
    with pytest.raises(ValueError):
        check_consistency(-1, 3, empty, root3, [])
    proof = _subproof(2, SYNTHETIC[:3], True)
    with pytest.raises(ValueError, match="cannot precede"):
        check_consistency(3, 2, root3, _mth(SYNTHETIC[:2]), proof)


# --- signed notes --------------------------------------------------------------------------

# golang.org/x/mod/sumdb/note package documentation, "Example" (checked against the Go source).
PETER_KEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
PETER_NOTE = PETER_TEXT + "\n— PeterNeumann " + PETER_SIG + "\n"

# c2sp.org/signed-note, "Verifier keys", "Example".
FOO_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n— example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def test_go_example_note() -> None:
    name, key_id, key = parse_verifier_key(PETER_KEY)
    assert (name, key_id.hex(), len(key)) == ("PeterNeumann", "c74f20a3", 32)
    assert open_note(PETER_NOTE, PETER_KEY) == PETER_TEXT


def test_c2sp_example_note() -> None:
    assert open_note(FOO_NOTE, FOO_KEY) == "This is an example message.\n"
    with pytest.raises(ValueError):
        open_note(FOO_NOTE, PETER_KEY)  # no signature by this key


def _vkey(name: str, private: Ed25519PrivateKey) -> str:
    """A verifier key computed here, independently of the module, from the spec's formula."""
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    key_b64 = base64.b64encode(b"\x01" + public).decode()
    return f"{name}+{key_id.hex()}+{key_b64}"


def _signature_line(
    text: str, name: str, private: Ed25519PrivateKey, key_id: bytes | None = None
) -> str:
    if key_id is None:
        key_id = bytes.fromhex(_vkey(name, private).split("+")[1])
    signature = private.sign(text.encode())
    return f"— {name} {base64.b64encode(key_id + signature).decode()}\n"


def _sign(text: str, name: str, private: Ed25519PrivateKey, key_id: bytes | None = None) -> str:
    return text + "\n" + _signature_line(text, name, private, key_id)


def _flip_signature_bit(note: str) -> str:
    head, _, b64 = note.rstrip("\n").rpartition(" ")
    blob = base64.b64decode(b64)
    return f"{head} {base64.b64encode(blob[:10] + _flip(blob[10:11]) + blob[11:]).decode()}\n"


def test_note_rejections() -> None:
    other = Ed25519PrivateKey.generate()
    peter_id = bytes.fromhex("c74f20a3")
    cases = {
        "forged signature": _flip_signature_bit(PETER_NOTE),
        "altered text": PETER_NOTE.replace("cryptography", "cryptographY"),
        "another key, same name": _sign(PETER_TEXT, "PeterNeumann", other),
        "another key posing with this key's id": _sign(
            PETER_TEXT, "PeterNeumann", other, key_id=peter_id
        ),
        "no blank line": PETER_NOTE.replace("\n\n", "\n"),
        "no signature lines": PETER_TEXT + "\n",
        "no final newline": PETER_NOTE[:-1],
        "hyphen instead of em dash": PETER_NOTE.replace("—", "-"),
        "no signature after the name": PETER_TEXT + "\n— PeterNeumann\n",
        "signature not base64": PETER_NOTE.replace(PETER_SIG, PETER_SIG[:-1] + "!"),
        "signature truncated": PETER_NOTE.replace(PETER_SIG, PETER_SIG[:12]),
        "control character": PETER_NOTE.replace("answer", "ans\twer"),
        "lone surrogate": PETER_NOTE.replace("answer", "ans\ud800wer"),
    }
    for name, note in cases.items():
        with pytest.raises(ValueError):
            open_note(note, PETER_KEY)
            pytest.fail(f"accepted: {name}")


def test_other_keys_signatures_are_ignored() -> None:
    """c2sp.org/signed-note: unknown keys' lines are skipped, wherever they appear."""
    witness = Ed25519PrivateKey.generate()
    line = _signature_line(PETER_TEXT, "witness.example/w1", witness)
    peter_line = "— PeterNeumann " + PETER_SIG + "\n"
    assert open_note(PETER_TEXT + "\n" + line + peter_line, PETER_KEY) == PETER_TEXT
    assert open_note(PETER_NOTE + line, PETER_KEY) == PETER_TEXT


def test_note_text_may_contain_empty_lines() -> None:
    """c2sp.org/signed-note: the signatures start after the note's *last* blank line."""
    key = Ed25519PrivateKey.generate()
    text = "first stanza\n\nsecond stanza\n"
    name = "poet.example/key"
    assert open_note(_sign(text, name, key), _vkey(name, key)) == text


def test_verifier_key_rejections() -> None:
    name, id_hex, key_b64 = PETER_KEY.split("+", 2)
    raw = base64.b64decode(key_b64)
    not_ed25519 = base64.b64encode(b"\x02" + raw[1:]).decode()
    cases = {
        "wrong key id": f"{name}+c74f20a4+{key_b64}",
        "uppercase key id": f"{name}+C74F20A3+{key_b64}",
        "short key id": f"{name}+c74f20a+{key_b64}",
        "other name": f"PeterNeuman+{id_hex}+{key_b64}",
        "name with a space": f"Peter Neumann+{id_hex}+{key_b64}",
        "empty name": f"+{id_hex}+{key_b64}",
        "not Ed25519": f"{name}+{id_hex}+{not_ed25519}",
        "short key": f"{name}+{id_hex}+{base64.b64encode(raw[:-1]).decode()}",
        "two parts": f"{name}+{id_hex}",
        "key not base64": f"{name}+{id_hex}+{key_b64[:-1]}*",
    }
    for label, key in cases.items():
        with pytest.raises(ValueError):
            parse_verifier_key(key)
            pytest.fail(f"accepted: {label}")


# --- checkpoints ---------------------------------------------------------------------------

ORIGIN = "surveil.example/log"
ROOT = _mth(SYNTHETIC[:5])


def _non_canonical(data: bytes) -> str:
    """Base64 of `data` with a padding bit set: it decodes to the same bytes leniently."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    text = base64.b64encode(data).decode()
    assert text.endswith("=") and not text.endswith("==")
    bad = text[:-2] + alphabet[alphabet.index(text[-2]) ^ 1] + "="
    assert base64.b64decode(bad) == data
    return bad


NON_CANONICAL_ROOT = _non_canonical(ROOT)


@pytest.fixture(scope="module")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _checkpoint(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def test_checkpoint_opens(log_key: Ed25519PrivateKey) -> None:
    vkey = _vkey(ORIGIN, log_key)
    root64 = base64.b64encode(ROOT).decode()
    note = _sign(_checkpoint(ORIGIN, "5", root64), ORIGIN, log_key)
    assert open_checkpoint(note, vkey) == (ORIGIN, 5, ROOT)
    with_extension = _sign(_checkpoint(ORIGIN, "5", root64, "ext one", "ext two"), ORIGIN, log_key)
    assert open_checkpoint(with_extension, vkey) == (ORIGIN, 5, ROOT)
    empty = base64.b64encode(_mth([])).decode()
    empty_note = _sign(_checkpoint(ORIGIN, "0", empty), ORIGIN, log_key)
    assert open_checkpoint(empty_note, vkey) == (ORIGIN, 0, _mth([]))


@pytest.mark.parametrize(
    "lines",
    [
        ("5", base64.b64encode(ROOT).decode()),
        ("", "5", base64.b64encode(ROOT).decode()),
        (ORIGIN, "05", base64.b64encode(ROOT).decode()),
        (ORIGIN, "+5", base64.b64encode(ROOT).decode()),
        (ORIGIN, " 5", base64.b64encode(ROOT).decode()),
        (ORIGIN, "-5", base64.b64encode(ROOT).decode()),
        (ORIGIN, "5_0", base64.b64encode(ROOT).decode()),
        (ORIGIN, "\u0665", base64.b64encode(ROOT).decode()),
        (ORIGIN, str(1 << 64), base64.b64encode(ROOT).decode()),
        (ORIGIN, "5", base64.b64encode(ROOT[:31]).decode()),
        (ORIGIN, "5", base64.b64encode(ROOT).decode().rstrip("=")),
        (ORIGIN, "5", NON_CANONICAL_ROOT),
        (ORIGIN, "5", base64.b64encode(ROOT).decode(), ""),
        (ORIGIN, "5"),
    ],
    ids=lambda lines: repr(lines)[:40],
)
def test_checkpoint_body_rejections(log_key: Ed25519PrivateKey, lines: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        open_checkpoint(_sign(_checkpoint(*lines), ORIGIN, log_key), _vkey(ORIGIN, log_key))


def test_checkpoint_signature_rejections(log_key: Ed25519PrivateKey) -> None:
    vkey = _vkey(ORIGIN, log_key)
    text = _checkpoint(ORIGIN, "5", base64.b64encode(ROOT).decode())
    note = _sign(text, ORIGIN, log_key)
    other = Ed25519PrivateKey.generate()
    cases = {
        "forged signature": _flip_signature_bit(note),
        "size changed after signing": note.replace("\n5\n", "\n6\n"),
        "signed by another key": _sign(text, ORIGIN, other),
        "another key posing with this key's id": _sign(
            text, ORIGIN, other, key_id=bytes.fromhex(vkey.split("+")[1])
        ),
        "no blank line": note.replace("\n\n", "\n"),
    }
    for name, bad in cases.items():
        with pytest.raises(ValueError):
            open_checkpoint(bad, vkey)
            pytest.fail(f"accepted: {name}")
