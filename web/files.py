"""Serving segment files with HTTP Range, validated by the segment's content hash."""

from __future__ import annotations

from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.helpers import ETAG_ANY, ETag
from multidict import CIMultiDict

from web.errors import ApiError
from web.keys import CONTENT_ETAG_KEY

MP4 = "video/mp4"


class _FileResponse(web.FileResponse):
    """A FileResponse that answers the request as rewritten by send_file."""

    def __init__(self, path: Path, view: web.BaseRequest) -> None:
        super().__init__(path, headers={hdrs.CONTENT_TYPE: MP4})
        self._view = view

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        if self.prepared:
            return None
        return await super().prepare(self._view)


def _matches(etags: tuple[ETag, ...], value: str, *, weak: bool) -> bool:
    return any(tag.value in (value, ETAG_ANY) for tag in etags if weak or not tag.is_weak)


async def send_file(request: web.Request, path: Path, sha256: str | None) -> web.StreamResponse:
    """Send path with Range support; with a sha256, conditionals are judged against it.

    FileResponse judges If-Match/If-None-Match/If-Range against its mtime-based ETag, which
    changes on copy or restore although the content does not; a sealed segment's hash is
    the better validator, so the conditionals are decided here and hidden from FileResponse.
    """
    headers = CIMultiDict(request.headers)
    # A sibling .gz/.br file must never be served in place of the evidence file.
    headers.popall(hdrs.ACCEPT_ENCODING, None)
    if sha256 is not None:
        quoted = f'"{sha256}"'
        if_none_match = request.if_none_match
        if if_none_match is not None:
            if _matches(if_none_match, sha256, weak=True):
                return web.Response(status=304, headers={hdrs.ETAG: quoted})
            # RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is present.
            headers.popall(hdrs.IF_NONE_MATCH, None)
            headers.popall(hdrs.IF_MODIFIED_SINCE, None)
        if_match = request.if_match
        if if_match is not None:
            if not _matches(if_match, sha256, weak=False):
                raise ApiError(
                    f"If-Match does not match the segment's sha256 {quoted}",
                    status=412,
                    code="precondition_failed",
                )
            headers.popall(hdrs.IF_MATCH, None)
            headers.popall(hdrs.IF_UNMODIFIED_SINCE, None)
        if_range = request.headers.get(hdrs.IF_RANGE)
        if if_range is not None and (if_range.startswith('"') or if_range.startswith("W/")):
            # An entity-tag If-Range (a date is left to FileResponse): a strong match keeps
            # the Range, anything else asks for the whole file.
            headers.popall(hdrs.IF_RANGE, None)
            if if_range != quoted:
                headers.popall(hdrs.RANGE, None)
    response = _FileResponse(path, request.clone(headers=headers))
    if sha256 is not None:
        response[CONTENT_ETAG_KEY] = sha256
    return response
