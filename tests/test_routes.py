"""The route table: no path is matched by two routes, and OPTIONS, Allow and 405 are truthful.

Walks the application's own router, so a new route is checked the moment it is added.
Two resources overlap when one request path could match both: compared segment by
segment, literals must be equal, a literal must fullmatch the other side's variable, and
two variables are taken to overlap (they usually share a value). A variable whose regex
matches "/" (``{receipt_no:.+}``, a static prefix) may take any number of segments. Only
identical templates may overlap (the same path registered once per method), and then
their methods must differ. Why it matters: aiohttp tries resources in order, so of two
overlapping ones the first silently wins (a camera named "probe"), and the ``Allow`` of
a 405 becomes the union of both (docs/design/api-types.md, Routes).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from index.db import Database
from index.tokens import create_token
from surveil.accounts import new_token
from surveil.clock import FakeClock
from surveil.timefmt import us_from_iso
from tests.harness import NoStatus
from web.app import create_app

T0 = us_from_iso("2026-11-26T02:00:00+00:00")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Values tried for a path variable when a concrete path is needed (the first that fits).
SAMPLES = ("routes-sample", "1", "x.mp4")


@dataclass(frozen=True)
class Segment:
    """One path segment: a literal, or a regex for the whole segment."""

    text: str
    regex: re.Pattern[str] | None  # None: a literal
    spans: bool = False  # its variable matches "/": it may take several segments

    def meets(self, other: Segment) -> bool:
        """Whether one segment text could match both."""
        if self.regex is None and other.regex is None:
            return self.text == other.text
        if self.regex is None:
            return other.regex is not None and other.regex.fullmatch(self.text) is not None
        if other.regex is None:
            return self.regex.fullmatch(other.text) is not None
        return True  # two variables: take them to share a value


@dataclass(frozen=True)
class Template:
    """A resource of the router: its shape, its full regex and its routes' methods."""

    text: str  # as shown in failures: the formatter, with each variable's regex
    segments: tuple[Segment, ...]
    pattern: re.Pattern[str]
    methods: frozenset[str]
    name: str

    def sample(self) -> str:
        """A concrete path this resource matches (each variable given a fitting value)."""
        parts = []
        for seg in self.segments:
            if seg.regex is None:
                parts.append(seg.text)
                continue
            fits = [v for v in _segment_samples(seg.text) if seg.regex.fullmatch(v)]
            assert fits, f"no sample value fits {seg.text!r} of {self.text}"
            parts.append(fits[0])
        path = "/" + "/".join(parts)
        assert self.pattern.fullmatch(path), (self.text, path)
        return path


def _segment_samples(text: str) -> list[str]:
    """Candidate values for a segment: each variable replaced by each sample value."""
    return [re.sub(r"\{[^}]*\}", value, text) for value in SAMPLES]


def _group_regexes(pattern: str) -> dict[str, str]:
    """The regex of each named group of aiohttp's compiled resource pattern."""
    out = {}
    for m in re.finditer(r"\(\?P<(\w+)>", pattern):
        depth, i, in_class = 1, m.end(), False
        while depth:
            c = pattern[i]
            if c == "\\":
                i += 2
                continue
            if in_class:
                in_class = c != "]"
            elif c == "[":
                in_class = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            i += 1
        out[m.group(1)] = pattern[m.end() : i - 1]
    return out


def _segments(formatter: str, regexes: dict[str, str]) -> tuple[tuple[Segment, ...], str]:
    segments, shown = [], []
    for text in formatter.strip("/").split("/"):
        if "{" not in text:
            segments.append(Segment(text, None))
            shown.append(text)
            continue
        regex, spans, pretty = "", False, ""
        for part in re.split(r"(\{[^}]+\})", text):
            if part.startswith("{"):
                var = regexes[part[1:-1]]
                regex += f"(?:{var})"
                spans = spans or re.fullmatch(var, "a/b") is not None
                pretty += f"{{{part[1:-1]}:{var}}}"
            else:
                regex += re.escape(part)
                pretty += part
        segments.append(Segment(text, re.compile(regex), spans))
        shown.append(pretty)
    return tuple(segments), "/" + "/".join(shown)


def templates(app: web.Application) -> list[Template]:
    """Every resource of app's router, with the methods of its routes."""
    out = []
    for resource in app.router.resources():
        routes = list(resource)
        methods = frozenset(r.method for r in routes)
        name = resource.name or "(unnamed)"
        info = resource.get_info()
        if "path" in info:
            path = str(info["path"])
            segs = tuple(Segment(s, None) for s in path.strip("/").split("/") if s)
            out.append(Template(path, segs, re.compile(re.escape(path)), methods, name))
        elif "formatter" in info:
            pattern: re.Pattern[str] = info["pattern"]
            segs, shown = _segments(str(info["formatter"]), _group_regexes(pattern.pattern))
            out.append(Template(shown, segs, pattern, methods, name))
        else:  # static: a prefix and then any file path below it
            prefix = str(info["prefix"]).rstrip("/")
            segs = tuple(Segment(s, None) for s in prefix.strip("/").split("/"))
            tail = Segment("{filename:.+}", re.compile(".+"), spans=True)
            regex = re.compile(re.escape(prefix) + "/.+")
            out.append(Template(prefix + "/{filename:.+}", (*segs, tail), regex, methods, name))
    return out


def overlap(a: tuple[Segment, ...], b: tuple[Segment, ...]) -> bool:
    """Whether one path could match both segment lists."""
    if not a or not b:
        return not a and not b
    x, y = a[0], b[0]
    if x.spans and y.spans:
        return True
    if x.spans or y.spans:
        rest, other = (a[1:], b) if x.spans else (b[1:], a)
        return any(overlap(rest, other[k:]) for k in range(1, len(other) + 1))
    return x.meets(y) and overlap(a[1:], b[1:])


def _app(tmp_path: Path, db: Database | None = None) -> web.Application:
    # No camera control: camera changes answer 503 and discovery sends nothing.
    return create_app(db, NoStatus(), tmp_path, FakeClock(T0))  # type: ignore[arg-type]


# -- overlap, without HTTP ---------------------------------------------------------------


def _seg(text: str) -> tuple[Segment, ...]:
    app = web.Application()

    async def nothing(request: web.Request) -> web.Response:
        raise AssertionError

    app.router.add_get(text, nothing)
    (t,) = templates(app)
    return t.segments


@pytest.mark.parametrize(
    ("one", "two", "expected"),
    [
        ("/api/v1/cameras/probe", "/api/v1/cameras/{name}", True),  # a literal is a name
        ("/api/v1/camera-probes", "/api/v1/cameras/{name}", False),
        ("/api/v1/cameras/{name}", "/api/v1/cameras/{name}/snapshot", False),
        ("/api/v1/segments/{id:[0-9]+}", "/api/v1/segments/latest", False),  # regex refuses
        ("/api/v1/segments/{id:[0-9]+}", "/api/v1/segments/42", True),
        ("/api/v1/clips/{camera}.mp4", "/api/v1/clips/{name}", True),  # two variables
        ("/api/v1/clips/{camera}.mp4", "/api/v1/clips/all.mp4", True),
        ("/api/v1/clips/{camera}.mp4", "/api/v1/clips/all.mkv", False),
        ("/api/v1/receipts/{no:.+}", "/api/v1/receipts/{no:.+}/complete", True),  # spans
        ("/api/v1/receipts/{no:.+}/clips/{c}.mp4", "/api/v1/receipts/{no:.+}", True),
        ("/api/v1/receipts/{no}", "/api/v1/receipts/{no}/complete", False),
        ("/r/{no:.+}/x", "/r/a/b/y", False),  # the spanning variable cannot take the end
        ("/r/{no:.+}/x", "/r/a/b/x", True),
    ],
)
def test_overlap_compares_segment_by_segment(one: str, two: str, expected: bool) -> None:
    assert overlap(_seg(one), _seg(two)) is expected
    assert overlap(_seg(two), _seg(one)) is expected


def test_no_two_routes_match_one_path(tmp_path: Path) -> None:
    found = []
    for a, b in itertools.combinations(templates(_app(tmp_path)), 2):
        if a.text == b.text:
            both = a.methods & b.methods
            if both:
                found.append(f"{a.text} is registered twice for {sorted(both)}: {a.name}, {b.name}")
        elif overlap(a.segments, b.segments):
            found.append(f"{a.text} {sorted(a.methods)} overlaps {b.text} {sorted(b.methods)}")
    assert found == [], "routes that can match one path:\n  " + "\n  ".join(found)


# -- OPTIONS, Allow and 405 on the live app -----------------------------------------------


@pytest.fixture
async def admin_client(
    db: Database, tmp_path: Path
) -> AsyncIterator[tuple[TestClient[Any, Any], dict[str, str]]]:
    token, digest = new_token()
    await db.write(lambda s: create_token(s, "routes-admin", "admin", digest, T0))
    client: TestClient[Any, Any] = TestClient(TestServer(_app(tmp_path, db)))
    await client.start_server()
    try:
        yield client, {"Authorization": f"Bearer {token}"}
    finally:
        await client.close()


def _allow(header: str | None) -> set[str]:
    return {m.strip() for m in (header or "").split(",") if m.strip()}


def _api_paths(app: web.Application) -> list[tuple[str, set[str]]]:
    """(sample path, methods of every route matching it) for each API resource."""
    all_templates = templates(app)
    out = []
    for t in all_templates:
        if not t.text.startswith("/api/"):
            continue
        path = t.sample()
        methods = set().union(*(u.methods for u in all_templates if u.pattern.fullmatch(path)))
        out.append((path, methods))
    return out


@pytest.mark.undocumented  # OPTIONS and wrong methods are the router's, not operations
async def test_options_answers_204_with_a_truthful_allow(admin_client: Any) -> None:
    client, auth = admin_client
    wrong = []
    for path, methods in _api_paths(client.app):
        expected = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
        async with client.options(path, headers=auth) as resp:
            body = await resp.read()
            if resp.status != 204 or _allow(resp.headers.get("Allow")) != expected or body:
                wrong.append(f"OPTIONS {path}: {resp.status} Allow {resp.headers.get('Allow')!r}")
        if "HEAD" in expected:  # what Allow promises must not be refused
            async with client.head(path, headers=auth) as resp:
                if resp.status == 405:
                    wrong.append(f"HEAD {path}: 405 though OPTIONS allows it")
    assert wrong == [], "\n".join(wrong)


@pytest.mark.undocumented
async def test_a_wrong_method_answers_405_with_allow(admin_client: Any) -> None:
    client, auth = admin_client
    wrong = []
    for path, methods in _api_paths(client.app):
        for method in sorted(set(METHODS) - methods):
            async with client.request(method, path, headers=auth) as resp:
                body = await resp.json() if resp.content_type == "application/json" else None
                allow = _allow(resp.headers.get("Allow"))
                code = body["error"]["code"] if isinstance(body, dict) else None
                if resp.status != 405 or allow != methods or code != "method_not_allowed":
                    wrong.append(f"{method} {path}: {resp.status} {code} Allow {sorted(allow)}")
    assert wrong == [], "\n".join(wrong)
