"""RFC 9162 hashing and proofs (tlog/): the shared vectors, read in place, and properties."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.hashing import CompactRange, leaf_hash, root_of
from tlog.proofs import (
    ProofError,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "merkle"


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _vectors(kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (str(p.relative_to(VECTORS)), json.loads(p.read_text()))
        for p in sorted((VECTORS / kind).rglob("*.json"))
    ]


def test_the_vectors_are_there() -> None:
    # Read in place from ../shared (never copied): a missing directory must not pass quietly.
    assert len(_vectors("inclusion")) >= 6 and len(_vectors("consistency")) >= 6


@pytest.mark.parametrize(("name", "v"), _vectors("inclusion"))
def test_inclusion_vectors(name: str, v: dict[str, Any]) -> None:
    proof = [_b64(p) for p in v["proof"] or []]
    args = (v["leafIdx"], v["treeSize"], _b64(v["leafHash"]), proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize(("name", "v"), _vectors("consistency"))
def test_consistency_vectors(name: str, v: dict[str, Any]) -> None:
    proof = [_b64(p) for p in v["proof"] or []]
    args = (v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_rfc6962_roots_by_tree_size() -> None:
    data = json.loads((VECTORS / "rfc6962-roots.json").read_text())
    leaves = [leaf_hash(bytes.fromhex(h)) for h in data["leaf_inputs_hex"]]
    compact = CompactRange()
    for size, want in enumerate(data["root_by_tree_size_hex"]):
        assert root_of(leaves[:size]).hex() == want
        assert compact.root().hex() == want
        if size < len(leaves):
            compact, _ = compact.append(leaves[size])


def _tree(n: int) -> tuple[list[bytes], dict[tuple[int, int], bytes]]:
    """n leaf hashes and every complete subtree a log of them stores, built by appends."""
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    stored: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for leaf in leaves:
        compact, made = compact.append(leaf)
        for level, index, value in made:
            assert (level, index) not in stored
            stored[(level, index)] = value
    assert compact.root() == root_of(leaves)
    return leaves, stored


def _reader(stored: dict[tuple[int, int], bytes]) -> Any:
    return lambda level, index: stored[(level, index)]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_a_tampered_one_does_not(n: int, data: Any) -> None:
    leaves, stored = _tree(n)
    size = data.draw(st.integers(1, n))
    index = data.draw(st.integers(0, size - 1))
    root = root_of(leaves[:size])
    proof = inclusion_proof(index, size, _reader(stored))
    verify_inclusion(index, size, leaves[index], proof, root)
    bad: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index, size, leaves[index], proof, bytes(32)),  # wrong root
        (index, size, leaf_hash(b"other"), proof, root),  # another leaf
        (index, size, leaves[index], [*proof, bytes(32)], root),  # an extra hash
    ]
    if proof:
        flipped = bytes([proof[0][0] ^ 1]) + proof[0][1:]
        bad.append((index, size, leaves[index], [flipped, *proof[1:]], root))  # a flipped bit
        bad.append((index, size, leaves[index], proof[:-1], root))  # truncated
    if index + 1 < size:
        bad.append((index + 1, size, leaves[index], proof, root))  # index off by one
    # A size off by one: refused whenever the tree's height at the leaf differs. (Where it
    # does not, the proof cannot tell the sizes apart; the signed checkpoint binds the size
    # to its root, which is why a proof is checked against a checkpoint.)
    for other in (size - 1, size + 1):
        if index < other <= n and len(inclusion_proof(index, other, _reader(stored))) != len(proof):
            bad.append((index, other, leaves[index], proof, root))
    for case in bad:
        with pytest.raises(ProofError):
            verify_inclusion(*case)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies_and_a_tampered_one_does_not(n: int, data: Any) -> None:
    leaves, stored = _tree(n)
    second = data.draw(st.integers(1, n))
    first = data.draw(st.integers(1, second))
    r1, r2 = root_of(leaves[:first]), root_of(leaves[:second])
    proof = consistency_proof(first, second, _reader(stored))
    verify_consistency(first, second, r1, r2, proof)
    bad = [
        (first, second, r1, bytes(32), proof),
        (first, second, bytes(32), r2, proof) if first != second else None,
        (first, second, r1, r2, [*proof, bytes(32)]),
    ]
    if proof:
        flipped = bytes([proof[-1][0] ^ 1]) + proof[-1][1:]
        bad.append((first, second, r1, r2, [*proof[:-1], flipped]))
        bad.append((first, second, r1, r2, proof[:-1]))
    for case in bad:
        if case is None:
            continue
        with pytest.raises(ProofError):
            verify_consistency(*case)


def test_proofs_outside_the_tree_are_refused() -> None:
    _, stored = _tree(5)
    with pytest.raises(ProofError):
        inclusion_proof(5, 5, _reader(stored))
    with pytest.raises(ProofError):
        consistency_proof(4, 3, _reader(stored))
    assert consistency_proof(0, 5, _reader(stored)) == []
    assert consistency_proof(5, 5, _reader(stored)) == []


def test_an_append_stores_two_subtrees_per_leaf_amortised() -> None:
    _, stored = _tree(1024)
    assert len(stored) == 2 * 1024 - 1  # every node of a perfect tree, each exactly once
