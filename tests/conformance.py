"""Every response the suite receives from the API is checked against the OpenAPI document.

The document (``web.routes.api_document()``) is the API's contract, and schemathesis only
sees what a fuzzer invents; the suite exercises the cases people thought of. So for each
``/api/`` response any test receives, whatever the client, this finds the operation (the
path template and method), and asserts that the status is documented for it, that the
content type is one the document gives for that status, and that a JSON body validates
(``jsonschema.Draft202012Validator`` over the whole document, so ``$ref`` resolve).

Clients covered: ``aiohttp.ClientSession`` (and so ``aiohttp.test_utils.TestClient``,
which wraps one) by wrapping ``ClientSession._request``, and ``urllib.request.urlopen``.
Only ``application/json`` bodies are read (aiohttp caches them, so the test's own
``resp.json()`` still works); video and pictures are checked by status and content type,
never consumed.

A response with no operation (a router 404 or 405 on purpose, ``OPTIONS``) is allowed
only in a test marked ``@pytest.mark.undocumented``. A violation raises
:class:`NonConformance` at the request, and fails the test at its end even if the test
swallowed that exception. ``SURVEIL_CONFORMANCE=off`` turns the check off (local
debugging only; CI runs it on).
"""

from __future__ import annotations

import io
import json
import os
import re
import urllib.request
import urllib.response
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

JsonDict = dict[str, Any]

MARKER = "undocumented"
MARKER_HELP = f"{MARKER}: the test hits API paths or methods the document does not describe"
SWITCH = "SURVEIL_CONFORMANCE"
API_PREFIX = "/api/"
DOC_URI = "urn:surveil:openapi"
JSON = "application/json"
# aiohttp answers HEAD for every GET route; the document describes the GET.
_METHOD_ALIASES = {"HEAD": "GET"}
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class NonConformance(AssertionError):
    """A response of the API that its OpenAPI document does not allow."""


def enabled() -> bool:
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "no", "false")


# -- the document ------------------------------------------------------------------------


def _format_checker() -> FormatChecker:
    """The 2020-12 formats, plus date-time (jsonschema needs an extra package for it)."""
    checker = FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not _RFC3339.fullmatch(value):
            return False
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return True

    return checker


@dataclass(frozen=True)
class Template:
    """One path of the document, as a regex over the raw (percent-encoded) request path."""

    text: str
    pattern: re.Pattern[str]
    literals: int  # more literal segments wins, as in a router: /cameras/probe over {name}

    @classmethod
    def of(cls, text: str) -> Template:
        parts = re.split(r"(\{[^}/]+\})", text)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts if p)
        literals = sum(1 for seg in text.split("/") if seg and "{" not in seg)
        return cls(text, re.compile(regex), literals)


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _media(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _media_matches(actual: str, documented: str) -> bool:
    documented = documented.lower()
    if documented in ("*/*", actual):
        return True
    return documented.endswith("/*") and actual.startswith(documented[:-1])


@dataclass
class Contract:
    """The document, indexed for checking responses."""

    doc: JsonDict
    templates: list[Template] = field(init=False)
    registry: Registry[Any] = field(init=False)
    formats: FormatChecker = field(init=False)
    _validators: dict[str, Draft202012Validator] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.templates = [Template.of(p) for p in self.doc.get("paths", {})]
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.formats = _format_checker()

    def operation(self, method: str, path: str) -> tuple[str, str] | None:
        """(template, lower-case method) of the operation answering method on path."""
        verb = _METHOD_ALIASES.get(method.upper(), method.upper()).lower()
        matches = [t for t in self.templates if t.pattern.fullmatch(path)]
        matches.sort(key=lambda t: -t.literals)
        for t in matches:
            if isinstance(self.doc["paths"][t.text].get(verb), dict):
                return t.text, verb
        return None

    def at(self, pointer: str) -> Any:
        """The part of the document a JSON pointer (without "#/") names."""
        target: Any = self.doc
        for part in pointer.split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return target

    def response(self, op_pointer: str, status: int) -> tuple[str, str, JsonDict] | None:
        """(status key, pointer, response object) documented for status, or None.

        Exact status first, then a range (4XX), then default. OpenAPI's "$ref" to
        components/responses is followed; the pointer says where the object lives, so
        its schema is validated in place (its own "$ref" resolve against the document).
        """
        responses = self.at(f"{op_pointer}/responses")
        for key in (str(status), f"{status // 100}XX", "default"):
            if key not in responses:
                continue
            pointer, obj = f"{op_pointer}/responses/{_pointer(key)}", responses[key]
            for _ in range(10):
                ref = obj.get("$ref")
                if ref is None:
                    return key, pointer, obj
                if not str(ref).startswith("#/"):
                    raise NonConformance(f"the document refers outside itself: {ref}")
                pointer = str(ref)[2:]
                obj = self.at(pointer)
            raise NonConformance(f"a $ref chain too long at {pointer}")
        return None

    def body_errors(self, schema_pointer: str, body: object) -> list[str]:
        """Every way body breaks the schema at schema_pointer (empty: it validates)."""
        validator = self._validators.get(schema_pointer)
        if validator is None:
            schema = {"$ref": f"{DOC_URI}#/{schema_pointer}"}
            validator = Draft202012Validator(
                schema, registry=self.registry, format_checker=self.formats
            )
            self._validators[schema_pointer] = validator
        out = []
        for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
            where = "".join(f"[{p!r}]" for p in error.absolute_path)
            out.append(f"body{where}: {_short(error.message)}")
        return out


def _short(text: str, limit: int = 240) -> str:
    """A schema error quotes the instance: a whole document would bury the point."""
    return text if len(text) <= limit else f"{text[: limit // 2]} ... {text[-limit // 2 :]}"


@cache
def contract() -> Contract:
    """The contract of this tree's API (the same document the service serves)."""
    from web.routes import api_document

    return Contract(api_document())


# -- one response ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What the check needs of one response."""

    method: str
    path: str  # raw, percent-encoded, without the query
    status: int
    content_type: str | None
    content_length: str | None
    body: bytes | None  # read only for JSON; None: not read


def problems(c: Contract, seen: Seen, undocumented_ok: bool) -> list[str]:
    """Why the document does not allow this response (empty: it does)."""
    found = c.operation(seen.method, seen.path)
    if found is None:
        if undocumented_ok:
            return []
        return [
            f"no operation of the document answers {seen.method} {seen.path} "
            f"(mark the test @pytest.mark.{MARKER} if that is on purpose)"
        ]
    template, verb = found
    at = f"{verb.upper()} {template}"
    op_pointer = _pointer("paths", template, verb)
    answer = c.response(op_pointer, seen.status)
    if answer is None:
        documented = ", ".join(sorted(c.at(f"{op_pointer}/responses")))
        return [f"status {seen.status} is not documented for {at} (documented: {documented})"]
    key, pointer, response = answer
    at = f"{at} {key}"
    content: Mapping[str, Any] = response.get("content") or {}
    media = _media(seen.content_type)
    if not content:
        empty = media is None or seen.content_length == "0" or seen.body == b""
        return [] if empty else [f"{at} has no body, but one came as {media}"]
    if media is None:
        return [f"{at}: no Content-Type; documented {sorted(content)}"]
    match = next((m for m in content if _media_matches(media, m)), None)
    if match is None:
        return [f"{at}: Content-Type {media} is not one of {sorted(content)}"]
    if seen.body is None or "schema" not in content[match]:
        return []  # not JSON, or not read (HEAD): status and type are all we check
    try:
        body = json.loads(seen.body)
    except ValueError as exc:
        return [f"{at}: the body is not JSON ({exc})"]
    schema = f"{pointer}/{_pointer('content', match, 'schema')}"
    return [f"{at}: {e}" for e in c.body_errors(schema, body)]


# -- the current test ------------------------------------------------------------------------


@dataclass
class _State:
    item: pytest.Item | None = None
    violations: list[str] = field(default_factory=list)


_state = _State()


@contextmanager
def current_test(item: pytest.Item) -> Iterator[None]:
    """Attribute the responses received meanwhile (setup, call, teardown) to item."""
    _state.item, _state.violations = item, []
    try:
        yield
    finally:
        _state.item = None


def undocumented_allowed() -> bool:
    item = _state.item
    return item is not None and item.get_closest_marker(MARKER) is not None


def take_violations() -> list[str]:
    """The violations recorded for the current test so far, forgetting them."""
    out, _state.violations = _state.violations, []
    return out


def record(seen: Seen) -> None:
    """Check one response; raise NonConformance (and remember it) if it breaks the document."""
    found = problems(contract(), seen, undocumented_allowed())
    if found:
        message = f"{seen.method} {seen.path} -> {seen.status}: " + "; ".join(found)
        _state.violations.append(message)
        raise NonConformance(message)


def is_api(path: str) -> bool:
    return path.startswith(API_PREFIX)


# -- clients --------------------------------------------------------------------------------


async def _check_aiohttp(resp: aiohttp.ClientResponse) -> None:
    for earlier in resp.history:  # redirects: status and type only, their bodies are gone
        if is_api(earlier.url.raw_path):
            record(_seen(earlier, None))
    if not is_api(resp.url.raw_path):
        return
    body = None
    if _media(resp.headers.get("Content-Type")) == JSON and resp.method != "HEAD":
        try:
            body = await resp.read()  # cached: resp.json() and resp.text() still work
        except aiohttp.ClientError:
            body = None  # the test's own read will meet the same failure
    try:
        record(_seen(resp, body))
    except NonConformance:
        resp.close()
        raise


def _seen(resp: aiohttp.ClientResponse, body: bytes | None) -> Seen:
    return Seen(
        method=resp.method,
        path=resp.url.raw_path,
        status=resp.status,
        content_type=resp.headers.get("Content-Type"),
        content_length=resp.headers.get("Content-Length"),
        body=body,
    )


def _wrap_aiohttp(original: Callable[..., Any]) -> Callable[..., Any]:
    async def _request(
        self: aiohttp.ClientSession, method: str, str_or_url: Any, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        resp: aiohttp.ClientResponse = await original(self, method, str_or_url, **kwargs)
        await _check_aiohttp(resp)
        return resp

    _request.__wrapped__ = original  # type: ignore[attr-defined]
    return _request


def _wrap_urlopen(original: Callable[..., Any]) -> Callable[..., Any]:
    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        resp = original(url, *args, **kwargs)
        parts = urlsplit(resp.geturl())
        if not is_api(parts.path):
            return resp
        method = url.get_method() if isinstance(url, urllib.request.Request) else "GET"
        ctype = resp.headers.get("Content-Type")
        body = resp.read() if _media(ctype) == JSON and method != "HEAD" else None
        seen = Seen(
            method, parts.path, resp.status, ctype, resp.headers.get("Content-Length"), body
        )
        if body is None:
            record(seen)
            return resp
        resp.close()
        record(seen)
        # The test reads the body we consumed: hand it back the same bytes.
        return urllib.response.addinfourl(io.BytesIO(body), resp.headers, resp.url, resp.status)

    return urlopen


@contextmanager
def installed() -> Iterator[None]:
    """Check every API response of every client while inside (a no-op when switched off)."""
    if not enabled():
        yield
        return
    mp = pytest.MonkeyPatch()
    mp.setattr(aiohttp.ClientSession, "_request", _wrap_aiohttp(aiohttp.ClientSession._request))
    mp.setattr(urllib.request, "urlopen", _wrap_urlopen(urllib.request.urlopen))
    try:
        yield
    finally:
        mp.undo()


def swallowed() -> str | None:
    """A failure message if responses broke the document and the test carried on."""
    found = take_violations()
    if not found:
        return None
    lines = "\n  ".join(found)
    return f"{len(found)} API response(s) broke the OpenAPI document:\n  {lines}"
