"""The conformance check itself (tests/conformance.py): it catches what it must, and no more.

These run a small app of our own against a small document of our own, so they do not move
with the API: a wrong body, an undocumented status or content type, an undocumented path
fail; a conformant answer passes and stays readable by the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests import conformance
from tests.conformance import Contract, NonConformance, Seen, problems

ERROR = {"$ref": "#/components/schemas/Error"}
DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "0"},
    "paths": {
        "/api/v1/things/{id}": {
            "get": {
                "responses": {
                    "200": {
                        "description": "A thing.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "404": {"$ref": "#/components/responses/NotFound"},
                    "4XX": {
                        "description": "Else.",
                        "content": {"application/json": {"schema": ERROR}},
                    },
                }
            }
        },
        # Literal beside a variable: the literal template is the one that answers.
        "/api/v1/things/new": {
            "post": {
                "responses": {
                    "204": {"description": "No body."},
                }
            }
        },
        "/api/v1/films/{id}.mp4": {
            "get": {
                "responses": {
                    "200": {
                        "description": "Video.",
                        "content": {
                            "video/mp4": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                }
            }
        },
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"},
                },
                "required": ["name"],
                "additionalProperties": False,
            },
            "Error": {
                "type": "object",
                "properties": {
                    "error": {
                        "type": "object",
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["code", "message"],
                    }
                },
                "required": ["error"],
            },
        },
        "responses": {
            "NotFound": {
                "description": "No such thing.",
                "content": {"application/json": {"schema": ERROR}},
            }
        },
    },
}
THING = {"name": "a", "at": "2026-11-26T20:41:00.123456+00:00"}
FILM = bytes(range(256)) * 64
JSON = "application/json"
NOT_FOUND = {"error": {"code": "not_found", "message": "no such thing"}}


def _seen(method: str, path: str, status: int, ctype: str | None, body: object = None) -> Seen:
    raw = None if body is None else json.dumps(body).encode()
    return Seen(method, path, status, ctype, None, raw)


# -- the check, without HTTP ------------------------------------------------------------


def test_a_conformant_answer_has_no_problems() -> None:
    c = Contract(DOC)
    assert (
        problems(c, _seen("GET", "/api/v1/things/7", 200, "application/json", THING), False) == []
    )
    not_found = _seen("GET", "/api/v1/things/7", 404, "application/json; charset=utf-8", NOT_FOUND)
    assert problems(c, not_found, False) == []
    assert (
        problems(c, _seen("GET", "/api/v1/things/7", 409, "application/json", NOT_FOUND), False)
        == []
    )
    assert problems(c, _seen("POST", "/api/v1/things/new", 204, None), False) == []
    assert problems(c, _seen("HEAD", "/api/v1/films/3.mp4", 200, "video/mp4"), False) == []


def test_a_wrong_body_is_named_with_its_field() -> None:
    c = Contract(DOC)
    found = problems(
        c, _seen("GET", "/api/v1/things/7", 200, "application/json", {"name": 5}), False
    )
    assert found == ["GET /api/v1/things/{id} 200: body['name']: 5 is not of type 'string'"]
    extra = problems(c, _seen("GET", "/api/v1/things/7", 200, JSON, {**THING, "x": 1}), False)
    assert len(extra) == 1 and "'x' was unexpected" in extra[0]


def test_a_wrong_error_body_behind_a_response_ref_is_caught() -> None:
    c = Contract(DOC)
    found = problems(c, _seen("GET", "/api/v1/things/7", 404, JSON, {"error": "gone"}), False)
    assert len(found) == 1 and found[0].startswith("GET /api/v1/things/{id} 404: body['error']")


def test_a_time_that_is_not_rfc_3339_is_caught() -> None:
    c = Contract(DOC)
    body = {"name": "a", "at": "2026-11-26 20:41"}
    found = problems(c, _seen("GET", "/api/v1/things/7", 200, JSON, body), False)
    assert found == [
        "GET /api/v1/things/{id} 200: body['at']: '2026-11-26 20:41' is not a 'date-time'"
    ]


def test_an_undocumented_status_is_caught() -> None:
    c = Contract(DOC)
    found = problems(c, _seen("POST", "/api/v1/things/new", 200, JSON, THING), False)
    assert found == ["status 200 is not documented for POST /api/v1/things/new (documented: 204)"]
    found = problems(c, _seen("GET", "/api/v1/things/7", 500, JSON, NOT_FOUND), False)
    assert found and "status 500 is not documented" in found[0]


def test_an_undocumented_content_type_is_caught() -> None:
    c = Contract(DOC)
    found = problems(c, _seen("GET", "/api/v1/films/3.mp4", 200, "text/html"), False)
    assert found == [
        "GET /api/v1/films/{id}.mp4 200: Content-Type text/html is not one of ['video/mp4']"
    ]
    found = problems(c, _seen("POST", "/api/v1/things/new", 204, JSON, THING), False)
    assert found == ["POST /api/v1/things/new 204 has no body, but one came as application/json"]


def test_an_undocumented_path_or_method_needs_the_marker() -> None:
    c = Contract(DOC)
    for seen in (
        _seen("GET", "/api/v1/nowhere", 404, JSON, NOT_FOUND),
        _seen("DELETE", "/api/v1/things/7", 405, JSON, NOT_FOUND),
        _seen("OPTIONS", "/api/v1/things/7", 204, None),
        _seen("GET", "/api/v1/things/a/b", 404, JSON, NOT_FOUND),  # one segment per variable
    ):
        found = problems(c, seen, undocumented_ok=False)
        assert len(found) == 1 and "no operation of the document answers" in found[0], seen
        assert problems(c, seen, undocumented_ok=True) == []


def test_the_literal_template_answers_before_the_variable() -> None:
    c = Contract(DOC)
    assert c.operation("POST", "/api/v1/things/new") == ("/api/v1/things/new", "post")
    assert c.operation("GET", "/api/v1/things/new") == ("/api/v1/things/{id}", "get")
    assert c.operation("GET", "/api/v1/things/a%2Fb") == ("/api/v1/things/{id}", "get")
    assert c.operation("GET", "/api/v1/films/x.mp4") == ("/api/v1/films/{id}.mp4", "get")
    assert c.operation("GET", "/api/v1/films/x.mkv") is None


# -- the wrapper, over HTTP -------------------------------------------------------------


class Answers:
    """What the little app answers next, set by each test."""

    def __init__(self) -> None:
        self.status = 200
        self.body: object = THING
        self.content_type = JSON


@pytest.fixture
def our_document(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not conformance.enabled():
        pytest.skip(f"{conformance.SWITCH}=off")
    monkeypatch.setattr(conformance, "contract", lambda: Contract(DOC))
    yield
    leftover = conformance.take_violations()
    assert leftover == [], "a test left violations behind"


@pytest.fixture
async def app_client(our_document: None) -> AsyncIterator[tuple[TestClient[Any, Any], Answers]]:
    answers = Answers()

    async def thing(request: web.Request) -> web.StreamResponse:
        if answers.content_type == JSON:
            return web.json_response(answers.body, status=answers.status)
        return web.Response(
            status=answers.status, text=str(answers.body), content_type=answers.content_type
        )

    async def film(request: web.Request) -> web.StreamResponse:
        return web.Response(body=FILM, content_type="video/mp4")

    app = web.Application()
    app.router.add_get("/api/v1/things/{id}", thing)
    app.router.add_get("/api/v1/films/{id}.mp4", film)
    app.router.add_get("/elsewhere", thing)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, answers
    finally:
        await client.close()


def _taken(expected_part: str) -> None:
    taken = conformance.take_violations()
    assert len(taken) == 1 and expected_part in taken[0], taken


def test_the_suite_runs_with_the_wrapper_installed() -> None:
    if not conformance.enabled():
        pytest.skip(f"{conformance.SWITCH}=off")
    assert hasattr(aiohttp.ClientSession._request, "__wrapped__")
    assert urllib.request.urlopen.__name__ == "urlopen"
    assert urllib.request.urlopen.__module__ == conformance.__name__


async def test_a_conformant_answer_passes_and_stays_readable(app_client: Any) -> None:
    client, _ = app_client
    async with client.get("/api/v1/things/1") as resp:
        assert resp.status == 200
        assert await resp.json() == THING  # the wrapper's read is cached
        assert await resp.text() == json.dumps(THING)


async def test_a_video_body_is_left_for_the_test_to_stream(app_client: Any) -> None:
    client, _ = app_client
    async with client.get("/api/v1/films/1.mp4") as resp:
        assert resp.status == 200
        first = await resp.content.read(1000)
        assert first + await resp.content.read() == FILM


async def test_a_wrong_body_fails_at_the_request(app_client: Any) -> None:
    client, answers = app_client
    answers.body = {"name": 5}
    with pytest.raises(NonConformance) as caught:
        await client.get("/api/v1/things/1")
    assert str(caught.value) == (
        "GET /api/v1/things/1 -> 200: "
        "GET /api/v1/things/{id} 200: body['name']: 5 is not of type 'string'"
    )
    _taken("5 is not of type 'string'")


async def test_an_undocumented_status_fails_at_the_request(app_client: Any) -> None:
    client, answers = app_client
    answers.status, answers.body = 500, NOT_FOUND
    with pytest.raises(NonConformance, match="status 500 is not documented"):
        await client.get("/api/v1/things/1")
    _taken("GET /api/v1/things/1 -> 500")


async def test_a_wrong_content_type_fails_at_the_request(app_client: Any) -> None:
    client, answers = app_client
    answers.content_type = "text/plain"
    with pytest.raises(NonConformance, match="Content-Type text/plain is not one of"):
        await client.get("/api/v1/things/1")
    _taken("text/plain")


async def test_a_plain_client_session_is_checked_too(app_client: Any) -> None:
    client, answers = app_client
    answers.body = {"nom": "a"}
    async with aiohttp.ClientSession() as http:
        with pytest.raises(NonConformance, match="'name' is a required property"):
            await http.get(client.make_url("/api/v1/things/1"))
    _taken("required")


async def test_an_undocumented_path_fails_unmarked(app_client: Any) -> None:
    client, _ = app_client
    with pytest.raises(NonConformance, match="no operation of the document answers"):
        await client.get("/api/v1/nowhere")
    _taken("GET /api/v1/nowhere -> 404")


@pytest.mark.undocumented
async def test_an_undocumented_path_passes_marked(app_client: Any) -> None:
    client, _ = app_client
    async with client.get("/api/v1/nowhere") as resp:
        assert resp.status == 404
    async with client.delete("/api/v1/things/1") as resp:
        assert resp.status == 405


@pytest.mark.undocumented
async def test_the_marker_does_not_excuse_a_documented_operation(app_client: Any) -> None:
    client, answers = app_client
    answers.body = {"name": 5}
    with pytest.raises(NonConformance):
        await client.get("/api/v1/things/1")
    _taken("5 is not of type 'string'")


async def test_paths_outside_the_api_are_not_checked(app_client: Any) -> None:
    client, answers = app_client
    answers.body = {"name": 5}
    async with client.get("/elsewhere") as resp:
        assert resp.status == 200


async def test_a_swallowed_violation_still_fails_the_test(app_client: Any) -> None:
    client, answers = app_client
    answers.status = 418
    with contextlib.suppress(NonConformance):  # what a careless test might do
        await client.get("/api/v1/things/1")
    message = conformance.swallowed()  # what the runtest_call hook reports
    assert message is not None
    assert "1 API response(s) broke the OpenAPI document" in message
    assert "GET /api/v1/things/1 -> 418" in message
    assert conformance.take_violations() == []


async def test_urllib_is_checked_and_its_body_kept(app_client: Any) -> None:
    client, answers = app_client
    url = str(client.make_url("/api/v1/things/1"))

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=10) as resp:
            body: bytes = resp.read()
            return body

    assert json.loads(await asyncio.to_thread(fetch)) == THING
    answers.body = {"name": 5}
    with pytest.raises(NonConformance, match="5 is not of type 'string'"):
        await asyncio.to_thread(fetch)
    _taken("5 is not of type")
