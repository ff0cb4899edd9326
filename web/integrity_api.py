"""The integrity log over HTTP: checkpoints, the verifier key, proofs, status (admin, auditor).

Everything an auditor needs to check footage with their own code: the signed checkpoint
(text/plain, C2SP format), the key that verifies it, and RFC 9162 proofs from the stored
tree. Handlers are thin: the log's storage is index/merkle.py, its policy
surveil/integrity.py.
"""

from __future__ import annotations

from aiohttp import web

from index import merkle
from index.errors import InvalidRecord
from index.merkle import CheckpointNotFound, CheckpointRecord, LeafNotFound, LogCorrupt
from surveil.integrity import Integrity
from web.access import audit
from web.errors import IntegrityUnavailable
from web.keys import DB_KEY, INTEGRITY_KEY
from web.openapi import Media, Op
from web.wire.base import reply
from web.wire.integrity import (
    CheckpointInfo,
    CheckpointList,
    CheckpointQuery,
    CheckpointsQuery,
    ConsistencyProof,
    ConsistencyQuery,
    InclusionProof,
    InclusionQuery,
    IntegrityStatusReply,
    VerifyRunning,
    b64,
)

_TEXT = "text/plain"


def _integrity(request: web.Request) -> Integrity:
    integrity = request.app.get(INTEGRITY_KEY)
    if integrity is None:
        raise IntegrityUnavailable("the integrity log is not running in this process")
    return integrity


async def _chosen(request: web.Request, query: CheckpointQuery) -> CheckpointRecord:
    """The checkpoint at ?size=N, or the latest; CheckpointNotFound if there is none."""
    async with request.app[DB_KEY].read() as s:
        if query.size is not None:
            return await merkle.checkpoint_at(s, query.size)
        latest = await merkle.latest_checkpoint(s)
    if latest is None:
        raise CheckpointNotFound("no checkpoint has been issued yet")
    return latest


async def checkpoint(request: web.Request, *, query: CheckpointQuery) -> web.Response:
    """The latest signed checkpoint, or the one issued at ?size=N (404 if none was)."""
    record = await _chosen(request, query)
    return web.Response(text=record.note, content_type=_TEXT, charset="utf-8")


async def timestamp(request: web.Request, *, query: CheckpointQuery) -> web.Response:
    """The RFC 3161 token kept with a checkpoint (the latest, or ?size=N)."""
    record = await _chosen(request, query)
    if record.timestamp_token is None:
        raise CheckpointNotFound(f"the checkpoint at size {record.size} has no timestamp")
    return web.Response(body=record.timestamp_token, content_type="application/timestamp-reply")


async def key(request: web.Request) -> web.Response:
    """The verifier key line (note verifier-key form)."""
    return web.Response(
        text=_integrity(request).verifier_key + "\n", content_type=_TEXT, charset="utf-8"
    )


async def inclusion(request: web.Request, *, query: InclusionQuery) -> web.Response:
    """The inclusion proof of leaf ?index in the tree of ?size leaves."""
    async with request.app[DB_KEY].read() as s:
        leaf = await merkle.leaf_at(s, query.index)
        proof = await merkle.inclusion(s, query.index, query.size)
    return reply(
        InclusionProof(
            leaf_index=query.index,
            tree_size=query.size,
            leaf=b64(leaf.leaf),
            proof=[b64(h) for h in proof],
        )
    )


async def consistency(request: web.Request, *, query: ConsistencyQuery) -> web.Response:
    """The consistency proof from the tree of ?from leaves to the tree of ?to leaves."""
    async with request.app[DB_KEY].read() as s:
        proof = await merkle.consistency(s, query.first, query.second)
    return reply(
        ConsistencyProof(first=query.first, second=query.second, proof=[b64(h) for h in proof])
    )


async def checkpoints(request: web.Request, *, query: CheckpointsQuery) -> web.Response:
    """Issued checkpoints, newest first."""
    async with request.app[DB_KEY].read() as s:
        page = await merkle.checkpoints_page(s, before_size=query.before, limit=query.limit)
    more = len(page) == query.limit and page[-1].size > 0
    return reply(
        CheckpointList(
            checkpoints=[CheckpointInfo.of(c) for c in page],
            next_before=page[-1].size if more else None,
        )
    )


async def issue_checkpoint(request: web.Request) -> web.Response:
    """Issue a checkpoint now (admin); audited as integrity.checkpoint. When the log did not
    grow since the last one, that one is the answer."""
    record = await _integrity(request).checkpoint_now()
    await audit(request, "integrity.checkpoint", "ok", detail={"size": record.size})
    return reply(CheckpointInfo.of(record), status=201)


async def status(request: web.Request) -> web.Response:
    """The log's size, the last checkpoint, verify and scrub, and alarms."""
    return reply(IntegrityStatusReply.of(await _integrity(request).status()))


async def start_verify(request: web.Request) -> web.Response:
    """Start `surveil verify` in the background (one at a time); audited as
    integrity.verify. Its progress is in the status."""
    integrity = _integrity(request)
    await audit(request, "integrity.verify", "ok")
    return reply(VerifyRunning.of(integrity.start_verify()), status=202)


_PROOF_ERRORS = (InvalidRecord, LeafNotFound, LogCorrupt)

OPS = (
    Op(
        "GET",
        "/api/v1/integrity/checkpoint",
        "integrity_checkpoint",
        checkpoint,
        "The latest signed checkpoint, or the one at a size (admin, auditor)",
        query_model=CheckpointQuery,
        ok={200: Media(_TEXT, "The signed note: origin, size, base64 root, signatures.")},
        errors=(CheckpointNotFound,),
    ),
    Op(
        "GET",
        "/api/v1/integrity/checkpoint/timestamp",
        "integrity_timestamp",
        timestamp,
        "The RFC 3161 token of a checkpoint, when a TSA is configured (admin, auditor)",
        query_model=CheckpointQuery,
        ok={200: Media("application/timestamp-reply", "The DER TimeStampToken.")},
        errors=(CheckpointNotFound,),
    ),
    Op(
        "GET",
        "/api/v1/integrity/key",
        "integrity_key",
        key,
        "The verifier key of the checkpoints (admin, auditor)",
        ok={200: Media(_TEXT, "<name>+<8 hex key id>+<base64(0x01 || Ed25519 key)>")},
        errors=(IntegrityUnavailable,),
    ),
    Op(
        "GET",
        "/api/v1/integrity/proof/inclusion",
        "integrity_inclusion",
        inclusion,
        "An RFC 9162 inclusion proof (admin, auditor)",
        query_model=InclusionQuery,
        ok={200: InclusionProof},
        errors=_PROOF_ERRORS,
    ),
    Op(
        "GET",
        "/api/v1/integrity/proof/consistency",
        "integrity_consistency",
        consistency,
        "An RFC 9162 consistency proof (admin, auditor)",
        query_model=ConsistencyQuery,
        ok={200: ConsistencyProof},
        errors=(InvalidRecord, LogCorrupt),
    ),
    Op(
        "GET",
        "/api/v1/integrity/checkpoints",
        "integrity_checkpoints",
        checkpoints,
        "Every issued checkpoint, newest first (admin, auditor)",
        query_model=CheckpointsQuery,
        ok={200: CheckpointList},
    ),
    Op(
        "POST",
        "/api/v1/integrity/checkpoints",
        "issue_checkpoint",
        issue_checkpoint,
        "Issue a checkpoint now (admin)",
        ok={201: CheckpointInfo},
        errors=(IntegrityUnavailable,),
    ),
    Op(
        "GET",
        "/api/v1/integrity/status",
        "integrity_status",
        status,
        "The log, its last checkpoint, verify and scrub, and alarms (admin, auditor)",
        ok={200: IntegrityStatusReply},
        errors=(IntegrityUnavailable,),
    ),
    Op(
        "POST",
        "/api/v1/integrity/verifications",
        "start_verify",
        start_verify,
        "Start a full verify in the background (admin, auditor)",
        ok={202: VerifyRunning},
        errors=(IntegrityUnavailable,),
    ),
)
