"""The wire models' rules, as the API applies them (web/openapi.py parse_body/parse_params)."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from multidict import MultiDict
from pydantic import ValidationError

from web.errors import BadRequest, Unprocessable
from web.openapi import parse_body, parse_params
from web.routes import api_document
from web.wire.accounts import UserCreate
from web.wire.cameras import CameraByOnvif, CameraCreate
from web.wire.footage import ClipQuery, SegmentPath
from web.wire.types import NO_BLANK_ENDS_PATTERN

CAMERA = {"name": "cam-1", "onvif": {"host": "cam.local"}}


def test_a_json_integer_may_be_written_with_a_zero_fraction() -> None:
    # JSON Schema counts 554.0 as an integer (found by the fuzzer); 554.5 is not one.
    body = parse_body(CameraCreate, {**CAMERA, "onvif": {"host": "cam.local", "port": 554.0}})
    camera = body.root if isinstance(body, CameraCreate) else None
    assert isinstance(camera, CameraByOnvif) and camera.onvif.port == 554
    with pytest.raises(BadRequest, match=r"onvif\.port"):
        parse_body(CameraCreate, {**CAMERA, "onvif": {"host": "cam.local", "port": 554.5}})
    with pytest.raises(BadRequest, match=r"onvif\.port"):
        parse_body(CameraCreate, {**CAMERA, "onvif": {"host": "cam.local", "port": True}})


def test_a_host_the_pattern_allows_but_the_host_rule_refuses_is_422() -> None:
    with pytest.raises(Unprocessable, match=r"onvif\.host"):
        parse_body(CameraCreate, {**CAMERA, "onvif": {"host": "a..b"}})
    with pytest.raises(BadRequest, match=r"onvif\.host"):
        parse_body(CameraCreate, {**CAMERA, "onvif": {"host": "a b"}})


def test_a_pattern_refusal_says_the_rule_in_words_not_the_regex() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_body(UserCreate, {"username": "-amy", "password": "x" * 12, "role": "staff"})
    assert "starting with a letter or digit" in caught.value.message
    assert "^" not in caught.value.message


@pytest.mark.parametrize("blank", [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()])
def test_the_password_pattern_refuses_every_blank_str_strip_removes(blank: str) -> None:
    for password in ("a" * 11 + blank, blank + "a" * 11):
        assert re.fullmatch(NO_BLANK_ENDS_PATTERN, password) is None
        with pytest.raises(BadRequest, match="white space"):
            parse_body(UserCreate, {"username": "amy", "password": password, "role": "staff"})
    assert re.fullmatch(NO_BLANK_ENDS_PATTERN, "a" * 5 + blank + "a" * 5)


def test_parameters_are_text_integers_are_digits_only() -> None:
    assert parse_params(SegmentPath, {"id": "12"}, "path parameter").model_dump() == {"id": 12}
    for bad in ("+1", " 1", "1_0", "\u0663", "0", "1.0"):
        with pytest.raises(BadRequest, match="path parameter 'id'"):
            parse_params(SegmentPath, {"id": bad}, "path parameter")


def test_a_parameter_given_twice_or_unknown_is_refused() -> None:
    times = [("start", "2026-11-26T01:00:00Z"), ("end", "2026-11-26T02:00:00Z")]
    with pytest.raises(BadRequest, match="more than once"):
        parse_params(
            ClipQuery, MultiDict([*times, ("end", "2026-11-26T03:00:00Z")]), "query parameter"
        )
    with pytest.raises(BadRequest, match="unknown query parameter 'camera'"):
        parse_params(ClipQuery, MultiDict([*times, ("camera", "x")]), "query parameter")
    with pytest.raises(Unprocessable, match="12 hours"):
        parse_params(
            ClipQuery,
            MultiDict([("start", "2026-11-26T01:00:00Z"), ("end", "2026-11-27T02:00:00Z")]),
            "query parameter",
        )


def test_a_refused_camera_body_never_carries_its_password_in_the_error() -> None:
    # pydantic's own text quotes inputs; the union's errors are rebuilt without them.
    secret = "canary-Pw-7731"
    bodies = [
        {"name": "Bad Name", "url": "rtsp://h/s", "password": secret * 20},
        {"name": "cam", "onvif": {"host": "a..b", "password": secret}},
        {"name": "cam", "onvif": {"host": "h", "password": secret, "port": "x"}},
    ]
    for body in bodies:
        with pytest.raises(ValidationError) as caught:
            CameraCreate.model_validate(body)
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.errors())


def _input_strings(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every string schema a request can carry: parameters and bodies (through $refs)."""
    schemas = doc["components"]["schemas"]
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen.add(name)
                    walk(schemas[name], name)
            if node.get("type") == "string":
                out.append((where, node))
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    for path, item in doc["paths"].items():
        for method, op in item.items():
            for param in op.get("parameters", []):
                walk(param["schema"], f"{method} {path} {param['name']}")
            walk(op.get("requestBody", {}), f"{method} {path} body")
    return out


def test_no_input_string_admits_what_every_request_refuses() -> None:
    # A NUL is refused in every string (index/text.py) before any model runs; a schema
    # admitting one would make the fuzzer's valid request a 400 (found by schemathesis).
    strings = _input_strings(api_document())
    assert strings
    for where, schema in strings:
        if "enum" in schema or schema.get("format") in ("date-time", "receipt-no"):
            continue
        regex = schema.get("pattern")
        assert isinstance(regex, str), f"{where}: a string without a pattern admits NUL"
        for sample in ("a\x00", "\x00a", "aaaaaa\x00aaaaaa"):
            assert re.fullmatch(regex, sample) is None, f"{where}: {regex} admits a NUL"
