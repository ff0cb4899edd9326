"""docs/ref/api.md against the generated OpenAPI document, both ways.

The reference is prose for people; the document is what the code serves. They drift
apart silently (a renamed path, a new status), so: every backticked `METHOD /api/v1/...`
in the reference is an operation of the document and every operation is mentioned
(path templates compared by shape, `{x}` matches `{y}`); and every (status, code) of the
reference's error tables is one the document's responses carry, and the other way round.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

from web.routes import api_document

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "ref" / "api.md"
METHODS = ("get", "put", "post", "delete", "patch")
MENTION = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^`?#\s]*)[^`]*`")
ERROR_TABLE = re.compile(r"^\| *status *\| *`code` *\| *when *\|$")
# Answered by the router for paths and methods no operation has (so in no operation).
ROUTER_ERRORS = {(404, "not_found"), (405, "method_not_allowed")}


def shape(path: str) -> str:
    """A path template with its variables unnamed: /cameras/{name} is /cameras/{}."""
    return re.sub(r"\{[^}]*\}", "{}", path)


@cache
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def mentioned() -> set[tuple[str, str]]:
    return {(m.group(1), shape(m.group(2))) for m in MENTION.finditer(reference())}


def operations() -> set[tuple[str, str]]:
    doc = api_document()
    return {
        (method.upper(), shape(path))
        for path, item in doc["paths"].items()
        for method in item
        if method in METHODS
    }


def table_errors(text: str) -> set[tuple[int, str]]:
    """(status, code) of every row of every error table (`| status | `code` | when |`)."""
    out = set()
    in_table = False
    for line in text.splitlines():
        if ERROR_TABLE.match(line.strip()):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if set(cells[0]) <= {"-", " "}:
            continue  # the separator row
        for code in re.findall(r"`([a-z_]+)`", cells[1]):
            out.add((int(cells[0]), code))
    return out


def _resolve(doc: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in obj:
        target: Any = doc
        for part in str(obj["$ref"]).removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        obj = target
    return obj


def _codes(schema: object) -> set[str]:
    """The error codes a response schema narrows `error.code` to, wherever it does."""
    out: set[str] = set()
    if isinstance(schema, dict):
        code = schema.get("properties", {}).get("error", {}).get("properties", {}).get("code")
        if isinstance(code, dict) and isinstance(code.get("enum"), list):
            out |= {str(c) for c in code["enum"]}
        for value in schema.values():
            out |= _codes(value)
    elif isinstance(schema, list):
        for value in schema:
            out |= _codes(value)
    return out


def document_errors() -> set[tuple[int, str]]:
    """(status, code) of every error response of every operation of the document."""
    doc = api_document()
    out = set()
    for item in doc["paths"].values():
        for method, op in item.items():
            if method not in METHODS:
                continue
            for status, response in op.get("responses", {}).items():
                if not status.isdigit():
                    continue
                content = _resolve(doc, response).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                out |= {(int(status), code) for code in _codes(schema)}
    return out


def test_the_reference_is_read_as_intended() -> None:
    """The extraction itself: if these fail, the checks below check nothing."""
    assert ("GET", "/api/v1/cameras/{}") in mentioned()
    assert ("GET", "/api/v1/clips/{}.mp4") in mentioned()
    rows = table_errors(
        "| status | `code` | when |\n| --- | --- | --- |\n| 404 | `a_b`, `c` | x |\n"
    )
    assert rows == {(404, "a_b"), (404, "c")}
    assert (401, "unauthorized") in table_errors(reference())
    assert shape("/api/v1/receipts/{receipt_no:.+}/clips/{camera}.mp4") == (
        "/api/v1/receipts/{}/clips/{}.mp4"
    )


def test_every_operation_the_reference_names_exists() -> None:
    unknown = sorted(mentioned() - operations())
    assert unknown == [], "docs/ref/api.md names operations the document lacks: " + ", ".join(
        f"{m} {p}" for m, p in unknown
    )


def test_every_operation_is_in_the_reference() -> None:
    missing = sorted(operations() - mentioned())
    assert missing == [], "operations docs/ref/api.md does not mention: " + ", ".join(
        f"{m} {p}" for m, p in missing
    )


def test_the_error_tables_are_the_documents() -> None:
    documented = document_errors()
    table = table_errors(reference())
    not_in_doc = sorted(table - documented - ROUTER_ERRORS)
    not_in_table = sorted(documented - table)
    assert (not_in_doc, not_in_table) == ([], []), (
        f"in docs/ref/api.md's error tables but in no response of the document: {not_in_doc}; "
        f"in the document but in no error table: {not_in_table}"
    )
