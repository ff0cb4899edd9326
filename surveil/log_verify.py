"""`surveil verify` over the log: every leaf against its row and file, the tree against the
signed checkpoints, and the checkpoints against each other and an auditor's copy.

One pass over the log in index order, a page at a time (memory stays O(page)):
- each leaf hashes to its stored leaf hash and to the tree's level-0 hash;
- it is rebuilt from its row (a segment's row as sealed, an audit entry's every field) and
  must equal the stored bytes: a row edited, or a row deleted, is found at its item;
- the tree is rebuilt from the leaves with a compact range: every complete subtree the
  rebuild makes must equal the stored one (proofs are served from those), and at each
  checkpoint's size the rebuilt root must equal the signed one;
- rows with no leaf (inserted behind the log's back) are listed after the pass.
The files were read once before, by archive.verify_archive, which compares them with the
rows; a file changed together with its row fails here, because the row no longer
rebuilds its leaf. Each checkpoint's signature is checked with the trusted key, and each
one's consistency with the next through the stored hashes. ``--checkpoint FILE`` checks an
auditor's copy: signed by the trusted key, and its root is the rebuilt root at its size
(so the log was only appended to since).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from sqlalchemy.ext.asyncio import AsyncSession

from index import audit, merkle, retention, segments, transfers
from index.db import Database
from index.errors import InvalidRecord
from index.merkle import CheckpointRecord, LeafRecord
from index.records import DELETION_STATES, AuditRecord, DeletionRecord, SegmentRecord
from index.transfers import TransferRecord
from surveil.archive import VerifyReport, verify_archive
from surveil.clock import Clock
from surveil.findings import Finding
from surveil.volumes import Storage
from tlog import leaves
from tlog.hashing import CompactRange, leaf_hash
from tlog.note import Checkpoint, NoteError, NoteVerifier, open_note
from tlog.proofs import ProofError, verify_consistency

_PAGE = 2000
_CHECKPOINT_PAGE = 500
# States a sealed segment can move to later, each a finding or a logged deletion of its own.
_LOGGED_ROW_STATES = (
    *leaves.LOGGED_SEGMENT_STATES,
    "missing",
    "damaged",
    *DELETION_STATES,
)

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass
class IntegrityReport:
    """What `surveil verify` found; ok only when nothing at all is wrong."""

    archive: VerifyReport
    log_size: int = 0
    leaves_checked: int = 0
    checkpoints_checked: int = 0
    latest_checkpoint: int | None = None
    findings: list[Finding] = field(default_factory=list)
    central_checked: bool = False  # whether central storage was re-hashed too (--central)

    @property
    def all_findings(self) -> list[Finding]:
        return [*self.archive.findings, *self.findings]

    @property
    def ok(self) -> bool:
        return not self.all_findings

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.all_findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def as_json(self) -> dict[str, object]:
        a = self.archive
        return {
            "ok": self.ok,
            "segments": {
                "checked": a.checked,
                "ok": a.ok,
                "open": a.open,
                "deleted": a.deleted,
                "bytes": a.bytes_read,
            },
            "restored": list(a.restored),
            "log": {
                "size": self.log_size,
                "leaves_checked": self.leaves_checked,
                "checkpoints_checked": self.checkpoints_checked,
                "latest_checkpoint": self.latest_checkpoint,
            },
            "findings": [f.as_json() for f in self.all_findings],
        }


@dataclass(frozen=True)
class AuditorCheckpoint:
    """A checkpoint kept outside the recorder (the note as the auditor saved it)."""

    note: str
    source: str


async def verify_integrity(
    db: Database,
    data_dir: Storage,
    trusted: Iterable[NoteVerifier],
    *,
    clock: Clock | None = None,
    auditor: AuditorCheckpoint | None = None,
    progress: Progress | None = None,
) -> IntegrityReport:
    """The whole check: files against rows, rows against the log, the log against its
    checkpoints and the auditor's."""
    verifiers = list(trusted)
    if progress is not None:
        progress("files", 0, 0)
    report = IntegrityReport(await verify_archive(db, data_dir, clock))
    walk = _Walk(db, verifiers, report, progress)
    pinned = None if auditor is None else walk.open_auditor(auditor)
    await walk.run(() if pinned is None else (pinned.size,))
    if auditor is not None and pinned is not None:
        await walk.check_auditor(auditor, pinned)
    return report


class _Walk:
    def __init__(
        self,
        db: Database,
        verifiers: list[NoteVerifier],
        report: IntegrityReport,
        progress: Progress | None,
    ) -> None:
        self.db = db
        self.verifiers = verifiers
        self.report = report
        self.progress = progress
        self.found = report.findings
        self.compact = CompactRange()
        self.broken_at: int | None = None  # first leaf index the rebuilt tree lacks
        self.expected = 0  # the next leaf index, if the log has no gap
        self.roots: dict[int, bytes] = {}  # rebuilt root at sizes someone asks about

    async def run(self, sizes: Iterable[int] = ()) -> None:
        """The pass; the rebuilt root is also kept at each of sizes."""
        async with self.db.read() as s:
            state = await merkle.compact_range(s)
            latest = await merkle.latest_checkpoint(s)
        self.report.log_size = state.size
        self.report.latest_checkpoint = None if latest is None else latest.size
        stored = await self._checkpoint_sizes()
        extra = [(n, None) for n in sizes]
        self.pending: list[tuple[int, bytes | None]] = sorted(
            [*stored, *extra], key=lambda p: (p[0], p[1] is None), reverse=True
        )
        await self._leaves(state.size)
        self._log_state(state)
        await self._checkpoints(latest)
        await self._unlogged()

    async def _checkpoint_sizes(self) -> list[tuple[int, bytes | None]]:
        out: list[tuple[int, bytes | None]] = []
        after = -1
        while True:
            async with self.db.read() as s:
                page = await merkle.checkpoints_from(s, after, _CHECKPOINT_PAGE * 10)
            if not page:
                break
            out.extend((c.size, c.root) for c in page)
            after = page[-1].size
        return out

    async def _leaves(self, size: int) -> None:
        start = 0
        self._at_size(0)
        while True:
            async with self.db.read() as s:
                page = await merkle.leaves_page(s, start, _PAGE)
                if not page:
                    break
                by_kind = _ids_by_kind(page)
                segs = await segments.segments_by_ids(s, by_kind.get(leaves.KIND_SEGMENT, []))
                entries = await audit.audit_by_ids(s, by_kind.get(leaves.KIND_AUDIT, []))
                dels = await retention.deletions_by_ids(s, by_kind.get(leaves.KIND_DELETION, []))
                sent = by_kind.get(leaves.KIND_TRANSFER, [])
                xfers = await transfers.transfers_by_ids(s, sent)
                sent_segs = await segments.segments_by_ids(s, sent)
                rows = _Rows(segs, entries, dels, xfers, sent_segs)
                made: list[tuple[int, int, bytes, int]] = []
                for leaf in page:
                    self._leaf(leaf, rows, made)
                await self._subtrees(s, made)
            self.report.leaves_checked += len(page)
            start = page[-1].idx + 1
            if self.progress is not None:
                self.progress("log", self.report.leaves_checked, size)
        if self.expected < size:
            self.found.append(
                Finding(
                    "leaf_missing",
                    f"the log's size is {size} but its leaves stop at {self.expected}",
                    leaf_index=self.expected,
                )
            )
            if self.broken_at is None:
                self.broken_at = self.expected

    def _leaf(self, leaf: LeafRecord, rows: _Rows, made: list[tuple[int, int, bytes, int]]) -> None:
        if leaf.idx != self.expected:
            # A gap: reported once; the rebuilt tree stops at the first one, so every later
            # root is unverifiable, but every later leaf is still checked against its row.
            self.found.append(
                Finding(
                    "leaf_missing",
                    f"leaves {self.expected}..{leaf.idx - 1} are not in the log",
                    leaf_index=self.expected,
                )
            )
            if self.broken_at is None:
                self.broken_at = self.expected
        self.expected = leaf.idx + 1
        digest = leaf_hash(leaf.leaf)
        if digest != leaf.leaf_hash:
            self.found.append(
                Finding(
                    "leaf_edited",
                    "the leaf's bytes do not hash to its stored leaf hash",
                    leaf_index=leaf.idx,
                )
            )
        if self.broken_at is None:
            self.compact, nodes = self.compact.append(digest)
            made.extend((lv, i, h, leaf.idx) for lv, i, h in nodes[1:])
            self._at_size(self.compact.size)
        self._row(leaf, rows)

    def _at_size(self, size: int) -> None:
        while self.pending and self.pending[-1][0] == size:
            _, root = self.pending.pop()
            self.roots[size] = self.compact.root()
            if root is not None and root != self.roots[size]:
                self.found.append(
                    Finding(
                        "checkpoint_root_mismatch",
                        "the log rebuilt from its leaves has another root at this size: "
                        "the log was rewritten, or the checkpoint edited",
                        checkpoint_size=size,
                    )
                )

    def _row(self, leaf: LeafRecord, rows: _Rows) -> None:
        try:
            recorded = leaves.parse(leaf.leaf)
        except leaves.LeafError as exc:
            self.found.append(Finding("leaf_edited", str(exc), leaf_index=leaf.idx))
            return
        if leaf.kind != recorded["kind"] or recorded.get("id") != leaf.ref_id:
            self.found.append(
                Finding(
                    "leaf_edited",
                    f"the leaf says {recorded['kind']} {recorded.get('id')}, its row "
                    f"says {leaf.kind} {leaf.ref_id}",
                    leaf_index=leaf.idx,
                )
            )
            return
        if leaf.kind == leaves.KIND_SEGMENT:
            self._segment(leaf, recorded, rows.segments.get(leaf.ref_id))
        elif leaf.kind == leaves.KIND_AUDIT:
            self._audit(leaf, recorded, rows.audit.get(leaf.ref_id))
        elif leaf.kind == leaves.KIND_DELETION:
            self._deletion(leaf, recorded, rows.deletions.get(leaf.ref_id))
        elif leaf.kind == leaves.KIND_TRANSFER:
            self._transfer(
                leaf,
                recorded,
                rows.transfers.get(leaf.ref_id),
                rows.transferred.get(leaf.ref_id),
            )

    def _segment(
        self, leaf: LeafRecord, recorded: dict[str, object], seg: SegmentRecord | None
    ) -> None:
        path = str(recorded.get("path"))
        if seg is None:
            self.found.append(
                Finding(
                    "segment_row_deleted",
                    "the log has this segment, the index does not",
                    leaf.ref_id,
                    path,
                    leaf_index=leaf.idx,
                )
            )
            return
        if seg.sha256 is None or seg.state not in _LOGGED_ROW_STATES:
            rebuilt: dict[str, object] = {"state": seg.state, "sha256": seg.sha256}
        else:
            state = seg.state
            if state not in leaves.LOGGED_SEGMENT_STATES:  # marked later: a finding of its own
                state = str(recorded.get("state"))
                if state not in leaves.LOGGED_SEGMENT_STATES:
                    state = "sealed"
            rebuilt = leaves.parse(segments.segment_leaf(replace(seg, state=state), seg.camera))
        changed = _changed(recorded, rebuilt)
        if changed:
            self.found.append(
                Finding(
                    "segment_row_edited",
                    f"the row differs from what was logged at its seal in: {', '.join(changed)}",
                    seg.id,
                    seg.path,
                    leaf_index=leaf.idx,
                )
            )

    def _audit(
        self, leaf: LeafRecord, recorded: dict[str, object], entry: AuditRecord | None
    ) -> None:
        if entry is None:
            self.found.append(
                Finding(
                    "audit_entry_deleted",
                    f"the log has audit entry {leaf.ref_id} ({recorded.get('action')}), "
                    "the index does not",
                    audit_id=leaf.ref_id,
                    leaf_index=leaf.idx,
                )
            )
            return
        try:
            rebuilt = leaves.parse(audit.audit_leaf(entry))
        except leaves.LeafError as exc:
            rebuilt = {"detail": str(exc)}
        changed = _changed(recorded, rebuilt)
        if changed:
            self.found.append(
                Finding(
                    "audit_entry_edited",
                    f"the entry differs from what was logged in: {', '.join(changed)}",
                    audit_id=entry.id,
                    leaf_index=leaf.idx,
                )
            )

    def _deletion(
        self, leaf: LeafRecord, recorded: dict[str, object], d: DeletionRecord | None
    ) -> None:
        if d is None:
            self.found.append(
                Finding(
                    "deletion_row_deleted",
                    f"the log has deletion {leaf.ref_id} of segment {recorded.get('segment')}, "
                    "the index does not",
                    _int(recorded.get("segment")),
                    str(recorded.get("path")),
                    leaf_index=leaf.idx,
                )
            )
            return
        changed = _changed(recorded, leaves.parse(retention.deletion_leaf(d)))
        if changed:
            self.found.append(
                Finding(
                    "deletion_row_edited",
                    f"the deletion differs from what was logged in: {', '.join(changed)}",
                    d.segment_id,
                    d.path,
                    leaf_index=leaf.idx,
                )
            )

    def _transfer(
        self,
        leaf: LeafRecord,
        recorded: dict[str, object],
        t: TransferRecord | None,
        seg: SegmentRecord | None,
    ) -> None:
        if t is None or seg is None or t.state != "confirmed" or t.confirmed_us is None:
            self.found.append(
                Finding(
                    "transfer_row_deleted",
                    f"the log has segment {leaf.ref_id} confirmed in central storage, the "
                    "index does not",
                    leaf.ref_id,
                    None if seg is None else seg.path,
                    leaf_index=leaf.idx,
                )
            )
            return
        changed = _changed(recorded, leaves.parse(transfers.transfer_leaf(seg, t)))
        if changed:
            self.found.append(
                Finding(
                    "transfer_row_edited",
                    f"the confirmation differs from what was logged in: {', '.join(changed)}",
                    seg.id,
                    seg.path,
                    leaf_index=leaf.idx,
                )
            )

    async def _subtrees(self, s: AsyncSession, made: list[tuple[int, int, bytes, int]]) -> None:
        by_level: dict[int, list[tuple[int, bytes, int]]] = {}
        for lv, i, h, last in made:
            by_level.setdefault(lv, []).append((i, h, last))
        for lv, nodes in sorted(by_level.items()):
            stored = await merkle.subtree_hashes(s, lv, nodes[0][0], nodes[-1][0])
            for i, h, last in nodes:
                if stored.get(i) != h:
                    self.found.append(
                        Finding(
                            "subtree_hash_wrong",
                            f"the stored hash of level {lv}, index {i} is not the hash of "
                            "its leaves: proofs served from it would fail",
                            leaf_index=last,
                        )
                    )

    def _log_state(self, state: CompactRange) -> None:
        if self.broken_at is None and state != self.compact:
            self.found.append(
                Finding(
                    "log_state_wrong",
                    f"the stored compact range (size {state.size}) is not the one the "
                    f"leaves build (size {self.compact.size})",
                )
            )

    async def _checkpoints(self, latest: CheckpointRecord | None) -> None:
        size = self.report.log_size
        if latest is None:
            if size:
                self.found.append(
                    Finding(
                        "checkpoint_missing",
                        f"the log has {size} leaves and no checkpoint: none was issued, or "
                        "the checkpoints were deleted",
                    )
                )
            return
        if latest.size > size:
            self.found.append(
                Finding(
                    "log_truncated",
                    f"a checkpoint commits to {latest.size} leaves, the log has {size}",
                    checkpoint_size=latest.size,
                )
            )
        previous: CheckpointRecord | None = None
        after = -1
        while True:
            async with self.db.read() as s:
                page = await merkle.checkpoints_from(s, after, _CHECKPOINT_PAGE)
                for cp in page:
                    self._signature(cp)
                    if previous is not None and cp.size <= size:
                        await self._consistent(s, previous, cp)
                    previous = cp
                    self.report.checkpoints_checked += 1
            if not page:
                break
            after = page[-1].size
            if self.progress is not None:
                self.progress("checkpoints", self.report.checkpoints_checked, 0)

    def _signature(self, cp: CheckpointRecord) -> None:
        try:
            opened = open_note(cp.note, self.verifiers)
            body = Checkpoint.parse(opened.text)
        except NoteError as exc:
            self.found.append(
                Finding(
                    "checkpoint_forged",
                    f"not signed by the trusted key: {exc}",
                    checkpoint_size=cp.size,
                )
            )
            return
        if (body.size, body.root) != (cp.size, cp.root):
            self.found.append(
                Finding(
                    "checkpoint_forged",
                    "the signed note's size or root is not the stored one",
                    checkpoint_size=cp.size,
                )
            )

    async def _consistent(
        self, s: AsyncSession, first: CheckpointRecord, second: CheckpointRecord
    ) -> None:
        try:
            proof = await merkle.consistency(s, first.size, second.size)
            verify_consistency(first.size, second.size, first.root, second.root, proof)
        except (ProofError, merkle.LogCorrupt, InvalidRecord) as exc:
            self.found.append(
                Finding(
                    "checkpoint_inconsistent",
                    f"not consistent with the checkpoint at size {first.size}: {exc}",
                    checkpoint_size=second.size,
                )
            )

    async def _unlogged(self) -> None:
        after = 0
        while True:
            async with self.db.read() as s:
                ids = await merkle.segments_without_leaf(s, after, _PAGE)
                segs = await segments.segments_by_ids(s, ids)
            if not ids:
                break
            for i in ids:
                seg = segs.get(i)
                self.found.append(
                    Finding(
                        "segment_row_unlogged",
                        "a sealed segment the log never recorded: a row inserted behind its back",
                        i,
                        None if seg is None else seg.path,
                    )
                )
            after = ids[-1]
        after = 0
        while True:
            async with self.db.read() as s:
                ids = await retention.deleted_without_leaf(s, after, _PAGE)
                segs = await segments.segments_by_ids(s, ids)
            if not ids:
                break
            for i in ids:
                seg = segs.get(i)
                self.found.append(
                    Finding(
                        "deletion_unlogged",
                        "a segment marked deleted with no deletion in the log: not deleted "
                        "under a policy",
                        i,
                        None if seg is None else seg.path,
                    )
                )
            after = ids[-1]
        after = 0
        while True:
            async with self.db.read() as s:
                ids = await merkle.audit_without_leaf(s, after, _PAGE)
            if not ids:
                break
            self.found.extend(
                Finding(
                    "audit_entry_unlogged",
                    "an audit entry the log never recorded: inserted behind its back",
                    audit_id=i,
                )
                for i in ids
            )
            after = ids[-1]

    def open_auditor(self, auditor: AuditorCheckpoint) -> Checkpoint | None:
        """The auditor's checkpoint if the trusted key signed it; a finding otherwise."""
        try:
            return Checkpoint.parse(open_note(auditor.note, self.verifiers).text)
        except NoteError as exc:
            self.found.append(
                Finding(
                    "checkpoint_foreign",
                    f"{auditor.source} is not signed by the trusted key ({exc}): the log's "
                    "key was replaced, or the file is not this log's",
                )
            )
            return None

    async def check_auditor(self, auditor: AuditorCheckpoint, body: Checkpoint) -> None:
        """The log, rebuilt from its leaves, has the auditor's root at its size: it was
        only appended to since."""
        if body.size > self.compact.size:
            self.found.append(
                Finding(
                    "log_truncated",
                    f"{auditor.source} commits to {body.size} leaves; the log has "
                    f"{self.compact.size} that verify",
                    checkpoint_size=body.size,
                )
            )
            return
        if self.roots.get(body.size) != body.root:
            self.found.append(
                Finding(
                    "log_rewritten",
                    f"{auditor.source}: the log at size {body.size} has another root; it "
                    "was not only appended to since that checkpoint",
                    checkpoint_size=body.size,
                )
            )


@dataclass(frozen=True)
class _Rows:
    """The rows a page of leaves records, by kind and id."""

    segments: dict[int, SegmentRecord]
    audit: dict[int, AuditRecord]
    deletions: dict[int, DeletionRecord]
    transfers: dict[int, TransferRecord]
    transferred: dict[int, SegmentRecord]  # the segments of those transfers


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _ids_by_kind(page: list[LeafRecord]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for leaf in page:
        out.setdefault(leaf.kind, []).append(leaf.ref_id)
    return out


def _changed(recorded: dict[str, object], rebuilt: dict[str, object]) -> list[str]:
    keys = sorted(set(recorded) | set(rebuilt))
    return [
        k
        for k in keys
        if json.dumps(recorded.get(k), sort_keys=True) != json.dumps(rebuilt.get(k), sort_keys=True)
    ]
