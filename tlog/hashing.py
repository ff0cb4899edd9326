"""RFC 9162 §2.1.1 hashing: leaf and node hashes, and the compact range of a growing tree.

The compact range of a tree of size n is the list of the roots of the perfect subtrees
that cover leaves [0, n), largest first: one per 1-bit of n, so at most log2(n) + 1
hashes. Appending a leaf merges equal-sized subtrees, as binary addition carries; the root
folds the list from the right. Neither reads the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) (RFC 9162 §2.1.1)


def leaf_hash(leaf_input: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf input)."""
    return hashlib.sha256(b"\x00" + leaf_input).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits D[n]."""
    if n < 2:
        raise ValueError(f"no split of a tree of size {n}")
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, by the definition (O(n): for tests and verify)."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = split_point(len(hashes))
    return node_hash(root_of(hashes[:k]), root_of(hashes[k:]))


@dataclass(frozen=True)
class CompactRange:
    """The roots of the perfect subtrees covering [0, size), largest first."""

    size: int = 0
    roots: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if len(self.roots) != self.size.bit_count():
            raise ValueError(
                f"a compact range of size {self.size} has {self.size.bit_count()} roots, "
                f"not {len(self.roots)}"
            )

    def append(self, leaf: bytes) -> tuple[CompactRange, list[tuple[int, int, bytes]]]:
        """The range with one more leaf hash, and the complete subtrees the append made:
        (level, index at that level, hash), the leaf itself first (level 0)."""
        made = [(0, self.size, leaf)]
        roots, node, level, index = list(self.roots), leaf, 0, self.size
        while index & 1:  # each trailing 1-bit of the leaf's index completes a parent
            node = node_hash(roots.pop(), node)
            level, index = level + 1, index >> 1
            made.append((level, index, node))
        roots.append(node)
        return CompactRange(self.size + 1, tuple(roots)), made

    def root(self) -> bytes:
        """MTH of the whole tree: the roots folded from the right."""
        if not self.roots:
            return EMPTY_ROOT
        out = self.roots[-1]
        for left in reversed(self.roots[:-1]):
            out = node_hash(left, out)
        return out
