"""RFC 9162 §2.1.3-2.1.4: inclusion and consistency proofs, built and verified.

Proofs are built through a ``SubtreeHash`` callback that returns the stored root of the
perfect, aligned subtree [index * 2**level, (index + 1) * 2**level): the storage keeps
every complete subtree (index/), so a proof costs O(log n) reads and never the tree. An
incomplete range at the right edge is folded from its perfect pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tlog.hashing import node_hash, split_point

SubtreeHash = Callable[[int, int], bytes]  # (level, index) -> hash of a perfect subtree


class ProofError(ValueError):
    """A proof that does not hold, or a request for one that cannot exist."""


def range_hash(lo: int, hi: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[lo:hi]) where lo is aligned as RFC 9162's recursion leaves it: the range's
    perfect pieces, largest first, folded from the right."""
    pieces: list[bytes] = []
    while lo < hi:
        size = hi - lo
        level = size.bit_length() - 1  # the largest power of two that fits
        while lo % (1 << level):  # an unaligned start takes a smaller piece
            level -= 1
        pieces.append(subtree(level, lo >> level))
        lo += 1 << level
    out = pieces[-1]
    for left in reversed(pieces[:-1]):
        out = node_hash(left, out)
    return out


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[size]) (RFC 9162 §2.1.3.1), leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            path.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, subtree))
            lo += k
    path.reverse()
    return path


def consistency_proof(first: int, second: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(first, D[second]) (RFC 9162 §2.1.4.1); empty for first 0 or first == second."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency proof from size {first} to size {second}")
    if first in (0, second):
        return []
    path: list[bytes] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = split_point(hi - lo)
        if m <= k:
            path.append(range_hash(lo + k, hi, subtree))
            hi = lo + k
        else:
            path.append(range_hash(lo, lo + k, subtree))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(range_hash(lo, hi, subtree))
    path.reverse()
    return path


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """ProofError unless proof shows leaf (a leaf hash) at index in the tree with root
    (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is high")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """ProofError unless proof shows the tree of size first is a prefix of the tree of
    size second (RFC 9162 §2.1.4.2)."""
    if not 0 <= first <= second:
        raise ProofError(f"no consistency from size {first} to size {second}")
    if first == second:
        if proof:
            raise ProofError("a tree is consistent with itself by an empty proof")
        if first_root != second_root:
            raise ProofError("equal sizes with different roots")
        return
    if first == 0:
        if proof:
            raise ProofError("every tree extends the empty one: the proof must be empty")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is high")
    if fr != first_root:
        raise ProofError("the consistency proof does not lead to the first root")
    if sr != second_root:
        raise ProofError("the consistency proof does not lead to the second root")
