"""What an integrity check found: one finding per discrepancy, at its exact item.

``kind`` is a stable code (the list is in docs/ref/cli.md, `surveil verify`); the other
fields say where: a segment (id and path), an audit entry (id), a leaf index, or a
checkpoint (its size). ``detail`` is for people.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Finding:
    kind: str
    detail: str
    segment_id: int | None = None
    path: str | None = None
    audit_id: int | None = None
    leaf_index: int | None = None
    checkpoint_size: int | None = None

    def where(self) -> str:
        parts = []
        if self.segment_id is not None:
            parts.append(f"segment {self.segment_id}")
        if self.path is not None:
            parts.append(self.path)
        if self.audit_id is not None:
            parts.append(f"audit entry {self.audit_id}")
        if self.leaf_index is not None:
            parts.append(f"leaf {self.leaf_index}")
        if self.checkpoint_size is not None:
            parts.append(f"checkpoint at size {self.checkpoint_size}")
        return ", ".join(parts) or "the log"

    def as_json(self) -> dict[str, object]:
        return asdict(self)
