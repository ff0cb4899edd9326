"""The canonical leaf input: what one log entry says, as bytes anyone can recompute.

A leaf is a JSON object in UTF-8 with its keys sorted, no insignificant whitespace, strings
as JSON escapes them only where it must (``ensure_ascii=False``) and numbers only as
integers. Without floats that is also RFC 8785 (JCS) canonical JSON, so a third party can
rebuild the bytes from the fields with any JCS library. Every leaf carries ``kind`` (what
the entry is: ``segment``, ``audit``, ``deletion`` or ``transfer``; later kinds such as
``export`` add their own builder) and ``v`` (the version of that kind's field set, so a
field can be added without changing what old leaves mean).

The builders take plain values rather than index records, so this module stays free of
I/O and of the index's types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

KIND_SEGMENT: Final = "segment"
KIND_AUDIT: Final = "audit"
KIND_DELETION: Final = "deletion"
KIND_TRANSFER: Final = "transfer"
KINDS: Final = (KIND_SEGMENT, KIND_AUDIT, KIND_DELETION, KIND_TRANSFER)
LEAF_VERSION: Final = 1
# A segment enters the log when it is sealed, by the recorder or by crash recovery.
LOGGED_SEGMENT_STATES: Final = ("sealed", "recovered")


class LeafError(ValueError):
    """A value that has no canonical form in a leaf (a float, a non-string key, ...)."""


def _check(value: object, where: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise LeafError(f"{where}: a leaf holds integers only, not the float {value!r}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise LeafError(f"{where}: object keys must be strings, not {key!r}")
            _check(item, f"{where}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{where}[{i}]")
        return
    raise LeafError(f"{where}: {type(value).__name__} has no JSON form")


def canonical(record: Mapping[str, object]) -> bytes:
    """The canonical JSON bytes of record; LeafError for a value without one."""
    _check(record, "leaf")
    return json.dumps(
        record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode()


def segment_leaf(
    *,
    segment_id: int,
    camera: str,
    run: int,
    seq: int,
    path: str,
    start_us: int,
    end_us: int,
    duration_us: int,
    size: int,
    sha256: str,
    video_codec: str,
    audio_codec: str | None,
    fragments: int,
    state: str,
    sealed_us: int | None,
) -> bytes:
    """The leaf of a sealed or recovered segment: which file, of what, and its hash."""
    if state not in LOGGED_SEGMENT_STATES:
        raise LeafError(f"a segment enters the log sealed or recovered, not {state!r}")
    return canonical(
        {
            "kind": KIND_SEGMENT,
            "v": LEAF_VERSION,
            "id": segment_id,
            "camera": camera,
            "run": run,
            "seq": seq,
            "path": path,
            "start_us": start_us,
            "end_us": end_us,
            "duration_us": duration_us,
            "bytes": size,
            "sha256": sha256,
            "codecs": {"video": video_codec, "audio": audio_codec},
            "fragments": fragments,
            "state": state,
            "sealed_us": sealed_us,
        }
    )


def audit_leaf(
    *,
    audit_id: int,
    at_us: int,
    actor: str,
    actor_kind: str,
    remote: str | None,
    action: str,
    target: str | None,
    outcome: str,
    detail: Mapping[str, object],
) -> bytes:
    """The leaf of an audit entry: every field of it."""
    return canonical(
        {
            "kind": KIND_AUDIT,
            "v": LEAF_VERSION,
            "id": audit_id,
            "at_us": at_us,
            "actor": actor,
            "actor_kind": actor_kind,
            "remote": remote,
            "action": action,
            "target": target,
            "outcome": outcome,
            "detail": dict(detail),
        }
    )


def deletion_leaf(
    *,
    deletion_id: int,
    segment_id: int,
    camera: str,
    volume: str,
    path: str,
    start_us: int,
    end_us: int,
    size: int,
    sha256: str,
    policy: str,
    reason: str,
    pass_id: int,
    decided_us: int,
    central: str | None,
) -> bytes:
    """The leaf of a retention decision: which segment file goes, under which policy, and
    where a copy stays (central: the target and key, None when there is none)."""
    return canonical(
        {
            "kind": KIND_DELETION,
            "v": LEAF_VERSION,
            "id": deletion_id,
            "segment": segment_id,
            "camera": camera,
            "volume": volume,
            "path": path,
            "start_us": start_us,
            "end_us": end_us,
            "bytes": size,
            "sha256": sha256,
            "policy": policy,
            "reason": reason,
            "pass": pass_id,
            "decided_us": decided_us,
            "central": central,
        }
    )


def transfer_leaf(
    *,
    segment_id: int,
    target: str,
    key: str,
    size: int,
    sha256: str,
    confirmed_us: int,
    retain_until_us: int | None,
) -> bytes:
    """The leaf of a confirmed copy in central storage: the store reported this object with
    the segment's size and SHA-256 (id: the segment's, as transfers are keyed by it)."""
    return canonical(
        {
            "kind": KIND_TRANSFER,
            "v": LEAF_VERSION,
            "id": segment_id,
            "target": target,
            "key": key,
            "bytes": size,
            "sha256": sha256,
            "confirmed_us": confirmed_us,
            "retain_until_us": retain_until_us,
        }
    )


def parse(leaf: bytes) -> dict[str, object]:
    """The fields of a leaf; LeafError if it is not a canonical leaf of a known kind."""
    try:
        record = json.loads(leaf.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LeafError(f"a leaf is UTF-8 JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise LeafError("a leaf is a JSON object with a known kind")
    if canonical(record) != leaf:
        raise LeafError("the leaf is not in canonical form")
    return record
