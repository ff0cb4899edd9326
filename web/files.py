"""Serving footage bytes (segment files, stitched clips): RFC 9110 Range and conditionals.

One implementation for every footage download, so segments and clips answer Range and
validators alike (docs/ref/api.md, "Range requests"):

- only `bytes` ranges of GET are honoured; another unit, a malformed range set (a
  number of more than 19 digits included), or more than one range is ignored and the
  whole body is sent (200), as RFC 9110 §14.2 allows;
- one satisfiable range gives 206 with `Content-Range`; an unsatisfiable one (it starts
  at or after the end, or is the suffix `-0`) gives 416 with `Content-Range: bytes */N`
  and the JSON error `range_not_satisfiable`;
- `If-Match` (412), `If-None-Match` (304) and an entity-tag `If-Range` are judged
  against the ETag the caller gives, never a file's mtime (which changes on a copy or
  restore although the content does not); a date `If-Range` never matches, since no
  `Last-Modified` is sent, so the whole body follows.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from aiohttp import hdrs, web
from aiohttp.helpers import ETAG_ANY, ETag

from web.errors import PreconditionFailed, RangeNotSatisfiable

logger = logging.getLogger(__name__)

MP4 = "video/mp4"
CHUNK = 256 * 1024
# At most 19 digits a number: more than any body's size (and int() refuses more than
# 4300 digits), so a longer one makes the range malformed, which is ignored.
_RANGE_SPEC = re.compile(r"([0-9]{0,19})-([0-9]{0,19})", re.ASCII)
# (offset, length) → that many bytes (fewer only if the source shrank); blocking.
Reader = Callable[[int, int], bytes]


@dataclass(frozen=True)
class ByteRange:
    """Bytes [start, stop) of the body."""

    start: int
    stop: int


def range_not_satisfiable(size: int, detail: str) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"Range {detail} cannot be satisfied: the body has {size} bytes",
        headers={hdrs.CONTENT_RANGE: f"bytes */{size}"},
    )


def parse_range(value: str, size: int) -> ByteRange | None:
    """The one range of a Range header value to send, or None to send the whole body.

    None for a unit other than bytes, a malformed range set (a number of more than 19
    digits included) or more than one range;
    raises the 416 ApiError when the range is not satisfiable.
    """
    unit, sep, spec = value.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges = [part.strip() for part in spec.split(",") if part.strip()]
    if len(ranges) != 1 or size <= 0:
        # Multiple ranges: the whole body is one of the answers RFC 9110 allows, and
        # players never ask for more than one. A zero-length body has no ranges.
        return None
    m = _RANGE_SPEC.fullmatch(ranges[0])
    if m is None or not (m[1] or m[2]):
        return None
    if not m[1]:  # suffix: the last N bytes
        length = int(m[2])
        if length == 0:
            raise range_not_satisfiable(size, f"{ranges[0]!r}")
        return ByteRange(max(0, size - length), size)
    start = int(m[1])
    if m[2] and int(m[2]) < start:
        return None  # last before first: invalid, ignored
    if start >= size:
        raise range_not_satisfiable(size, f"{ranges[0]!r}")
    return ByteRange(start, size if not m[2] else min(size, int(m[2]) + 1))


def sealed_etag(sha256: str, size: int) -> str:
    """The ETag of a sealed segment: derived from its size and SHA-256 as recorded.

    Not the SHA-256 itself: the server does not re-hash on every download, so it must not
    advertise a digest the bytes sent may not have (`surveil verify` re-hashes).
    """
    digest = hashlib.sha256(f"surveil-segment-v1:{size}:{sha256}".encode()).hexdigest()
    return digest[:32]


def _matches(etags: tuple[ETag, ...], value: str, *, weak: bool) -> bool:
    return any(tag.value in (value, ETAG_ANY) for tag in etags if weak or not tag.is_weak)


def _selected_range(request: web.Request, size: int, quoted: str) -> ByteRange | None:
    """The range to send after If-Range; None: the whole body."""
    # RFC 9110 §14.2: range handling is defined for GET only.
    values = request.headers.getall(hdrs.RANGE, [])
    if request.method != hdrs.METH_GET or len(values) != 1:
        return None
    if_range = request.headers.get(hdrs.IF_RANGE)
    # §13.1.5: a strong comparison with the entity tag; a date never matches (no
    # Last-Modified is sent). Either way a failed If-Range means the whole body.
    if if_range is not None and if_range.strip() != quoted:
        return None
    return parse_range(values[0], size)


async def send_bytes(
    request: web.Request,
    size: int,
    read: Reader,
    etag: str,
    headers: Mapping[str, str] | None = None,
    *,
    what: str = "footage",
) -> web.StreamResponse:
    """Answer a GET or HEAD for a body of size bytes read on demand, tagged etag (unquoted).

    what names the body in the log should a read fail mid-response.
    """
    quoted = f'"{etag}"'
    out = {hdrs.ACCEPT_RANGES: "bytes", hdrs.ETAG: quoted, **(headers or {})}
    if_match = request.if_match
    if if_match is not None and not _matches(if_match, etag, weak=False):
        raise PreconditionFailed(f"If-Match does not match the current ETag {quoted}")
    if_none_match = request.if_none_match
    if if_none_match is not None and _matches(if_none_match, etag, weak=True):
        return web.Response(status=304, headers=out)
    rng = _selected_range(request, size, quoted)
    start, stop = (0, size) if rng is None else (rng.start, rng.stop)
    if rng is not None:
        out[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{size}"
    response = web.StreamResponse(status=200 if rng is None else 206, headers=out)
    response.content_type = MP4
    response.content_length = stop - start
    await response.prepare(request)
    if request.method == hdrs.METH_HEAD:
        await response.write_eof()
        return response
    pos = start
    while pos < stop:
        n = min(CHUNK, stop - pos)
        try:
            data = await asyncio.to_thread(read, pos, n)
            if len(data) != n:
                raise OSError(f"got {len(data)} of {n} bytes")
        except Exception as exc:
            # The status line is out: the one honest way left is to cut the connection,
            # so the client sees a short body, never a complete-looking one.
            logger.error("%s: cannot read bytes at %d of %d: %s", what, pos, size, exc)
            if request.transport is not None:
                request.transport.close()
            return response
        try:
            await response.write(data)
        except ConnectionResetError:
            return response  # the client went away (a player seeking elsewhere)
        pos += n
    await response.write_eof()
    return response


async def send_file(
    request: web.Request, file: BinaryIO, size: int, etag: str, *, what: str
) -> web.StreamResponse:
    """send_bytes from an open file (closed afterwards): a file unlinked or renamed while
    it is sent is still sent whole, from the inode that was opened and checked."""
    fd = file.fileno()
    try:
        return await send_bytes(request, size, lambda pos, n: os.pread(fd, n, pos), etag, what=what)
    finally:
        file.close()
