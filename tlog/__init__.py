"""A transparency log's pure parts (RFC 9162): hashing and proofs; no I/O here.

Storage of the tree lives in ``index/``; the design is docs/design/integrity.md.
"""
