"""The route registry of the JSON API, and the OpenAPI 3.1 document built from it.

Each operation is one :class:`Op`: its method and path, the handler, and the wire models
of its path, query, body and answers. ``web/routes.py`` registers the routes from the same
ops, so the router and the document come from one list; :func:`bind` validates the input
with the models before the handler runs, and :func:`document` derives the description
(schemas from pydantic, security from ``ROUTE_ROLES``, error codes from ``web/errors.py``).
Why our own registry and not a library: docs/design/api-types.md.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

import surveil
from surveil.access_log import AuditUnavailable
from web.body import json_object
from web.errors import (
    ApiError,
    BadRequest,
    CsrfRefused,
    Forbidden,
    IndexUnavailable,
    Unauthorized,
    Unprocessable,
    code_of,
    status_of,
)
from web.wire.base import RULE_ERROR, explain
from web.wire.errors import Error

JsonDict = dict[str, Any]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Handler = Callable[..., Awaitable[web.StreamResponse]]
REF = "#/components/schemas/{model}"
Refs = Mapping[Any, JsonDict]  # (model, mode) -> {"$ref": ...}, from pydantic


@dataclass(frozen=True)
class Media:
    """A response body that is not JSON (a video, a picture)."""

    content_type: str
    description: str
    schema: JsonDict | None = None  # default: bytes ({"type": "string", "format": "binary"})


Answer = type[BaseModel] | Media | None  # None: no body (204, 304)


@dataclass(frozen=True)
class Op:
    """One operation of the API; ``name`` is its route name and its ROUTE_ROLES key.

    The handler is called as ``handler(request, path=..., query=..., body=...)``, with one
    keyword per model given here, each already validated.
    """

    method: Method
    path: str
    name: str
    handler: Handler
    summary: str
    ok: Mapping[int, Answer]
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    body_model: type[BaseModel] | None = None
    body_required: bool = True
    errors: tuple[type[Exception], ...] = ()
    description: str | None = None
    tags: tuple[str, ...] = field(default=())


# -- input -------------------------------------------------------------------------------


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _refusal(
    exc: ValidationError, where: str, model: type[BaseModel]
) -> BadRequest | Unprocessable:
    """400 naming the first broken field and why, never quoting the input; 422 when every
    failure is a rule no schema states (web.wire.base.rule_error)."""
    errors = exc.errors(include_url=False, include_input=False)
    schema_errors = [e for e in errors if e["type"] != RULE_ERROR]
    first = (schema_errors or errors)[0]
    loc = _loc(first["loc"])
    why = explain(first)
    if first["type"] == "extra_forbidden":
        text = f"unknown {where} {loc!r}"
    elif first["type"] == "missing":
        text = f"{where} {loc!r} is required"
    else:
        text = f"{where} {loc!r}: {why}" if loc else f"{where}: {why}"
    return Unprocessable(text) if not schema_errors else BadRequest(text)


def _list_fields(model: type[BaseModel]) -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        origin = getattr(info.annotation, "__origin__", None)
        if origin in (list, tuple):
            out.add(name)
    return out


def parse_params(
    model: type[BaseModel], values: MultiMapping[str] | Mapping[str, str], where: str
) -> BaseModel:
    """Path or query parameters as the model: each at most once (lists repeat)."""
    lists = _list_fields(model)
    data: dict[str, str | list[str]] = {}
    getall = getattr(values, "getall", None)
    for key in dict.fromkeys(values):
        items: list[str] = list(getall(key)) if getall else [values[key]]
        if key in lists:
            data[key] = items
        elif len(items) > 1:
            raise BadRequest(f"{where} {key!r} is given more than once")
        else:
            data[key] = items[0]
    try:
        # Lax: parameters are text ("12" is 12); integer types refuse what is not digits.
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise _refusal(exc, where, model) from None


def parse_body(model: type[BaseModel], data: object) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc, "body field", model) from None


def bind(op: Op) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler of op: validate path, query and body, then call the handler."""

    async def handler(request: web.Request) -> web.StreamResponse:
        kwargs: dict[str, BaseModel | None] = {}
        if op.path_model is not None:
            kwargs["path"] = parse_params(op.path_model, request.match_info, "path parameter")
        if op.query_model is not None:
            kwargs["query"] = parse_params(op.query_model, request.query, "query parameter")
        elif request.query:
            raise BadRequest(f"unknown query parameter {next(iter(request.query))!r}")
        if op.body_model is not None:
            if request.can_read_body or op.body_required:
                kwargs["body"] = parse_body(op.body_model, await json_object(request))
            else:
                kwargs["body"] = None
        return await op.handler(request, **kwargs)

    handler.__name__ = op.name
    handler.__doc__ = op.handler.__doc__
    return handler


# -- the document --------------------------------------------------------------------------


def _models(ops: Iterable[Op]) -> tuple[list[type[BaseModel]], list[type[BaseModel]]]:
    inputs: dict[type[BaseModel], None] = {}
    outputs: dict[type[BaseModel], None] = {Error: None}
    for op in ops:
        for m in (op.path_model, op.query_model, op.body_model):
            if m is not None:
                inputs[m] = None
        for answer in op.ok.values():
            if isinstance(answer, type):
                outputs[answer] = None
    return list(inputs), list(outputs)


def _without_null(schema: JsonDict) -> JsonDict:
    """A parameter's schema: a query string cannot carry JSON null."""
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
            return {**kept[0], **rest}
    return {k: v for k, v in schema.items() if k != "default" or v is not None}


def _parameters(model: type[BaseModel] | None, where: str, defs: JsonDict) -> list[JsonDict]:
    if model is None:
        return []
    schema = defs[model.__name__]
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k != "title"}
        param: JsonDict = {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": _without_null(prop),
        }
        if "description" in prop:
            param["description"] = prop["description"]
        out.append(param)
    return out


def _json_content(ref: JsonDict) -> JsonDict:
    return {"application/json": {"schema": ref}}


def _error_response(codes: Sequence[str]) -> JsonDict:
    narrowed = {
        "allOf": [
            {"$ref": REF.format(model="Error")},
            {"properties": {"error": {"properties": {"code": {"enum": sorted(set(codes))}}}}},
        ]
    }
    return {"description": ", ".join(sorted(set(codes))), "content": _json_content(narrowed)}


def _common_errors(op: Op, public: bool) -> list[type[Exception]]:
    """What any operation can answer: a broken request, an unexpected failure (500, the
    details only in the log); and behind the guard, sign-in and role refusals, which are
    audited, so they fail closed when the index or the audit log cannot be written."""
    out: list[type[Exception]] = [BadRequest, ApiError]
    if not public:
        out += [Unauthorized, Forbidden, IndexUnavailable, AuditUnavailable]
        if op.method != "GET":
            out.append(CsrfRefused)
    return out


def _responses(op: Op, refs: Refs, public: bool) -> JsonDict:
    out: JsonDict = {}
    for status, answer in sorted(op.ok.items()):
        if answer is None:
            out[str(status)] = {"description": "No body."}
        elif isinstance(answer, Media):
            schema = answer.schema or {"type": "string", "format": "binary"}
            out[str(status)] = {
                "description": answer.description,
                "content": {answer.content_type: {"schema": schema}},
            }
        else:
            out[str(status)] = {
                "description": (answer.__doc__ or answer.__name__).strip().splitlines()[0],
                "content": _json_content(refs[(answer, "serialization")]),
            }
    by_status: dict[int, list[str]] = {}
    for kind in (*op.errors, *_common_errors(op, public)):
        code = status_of(kind)
        if code is None:
            raise ValueError(f"{op.name}: {kind.__name__} has no HTTP status in web/errors.py")
        by_status.setdefault(code, []).append(code_of(kind))
    for status in sorted(by_status):
        out[str(status)] = _error_response(by_status[status])
    return out


def _security(roles: frozenset[str]) -> JsonDict:
    if not roles:
        return {"security": []}
    return {
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "x-roles": sorted(roles),
    }


def _operation(
    op: Op,
    refs: Refs,
    defs: JsonDict,
    roles: frozenset[str],
) -> JsonDict:
    out: JsonDict = {"operationId": op.name, "summary": op.summary}
    description = op.description or inspect.getdoc(op.handler)
    if description:
        out["description"] = description
    params = _parameters(op.path_model, "path", defs) + _parameters(op.query_model, "query", defs)
    if params:
        out["parameters"] = params
    if op.body_model is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": _json_content(refs[(op.body_model, "validation")]),
        }
    out["responses"] = _responses(op, refs, public=not roles)
    out.update(_security(roles))
    return out


def document(ops: Sequence[Op], roles: Mapping[str, frozenset[str]]) -> JsonDict:
    """The OpenAPI 3.1 document of ops; every op needs an access policy in roles."""
    inputs, outputs = _models(ops)
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in inputs]
    wanted += [(m, "serialization") for m in outputs]
    refs, top = models_json_schema(wanted, ref_template=REF)
    defs: JsonDict = top.get("$defs", {})
    # Requests refuse unknown keys; answers are open, so a field added later is no
    # breaking change for a client that validates them.
    _, shown_inputs = models_json_schema([(m, "validation") for m in inputs], ref_template=REF)
    for name, schema in defs.items():
        if name not in shown_inputs.get("$defs", {}):
            schema.pop("additionalProperties", None)
    paths: JsonDict = {}
    for op in ops:
        if op.name not in roles:
            raise ValueError(f"operation {op.name} has no entry in ROUTE_ROLES")
        item = paths.setdefault(op.path, {})
        item[op.method.lower()] = _operation(op, refs, defs, roles[op.name])
    schemas: JsonDict = dict(defs)
    components: JsonDict = {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (`surveil token create`, or the tokens page).",
            },
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": "surveil_session",
                "description": "A signed-in browser's session; changes also need the "
                "X-CSRF-Token header.",
            },
        },
        "schemas": schemas,
    }
    doc: JsonDict = {
        "openapi": "3.1.0",
        "info": {
            "title": "surveil API",
            "version": surveil.__version__,
            "description": "Evidence-grade video recorder. Times are RFC 3339 with a UTC offset "
            "and, alongside, integer microseconds since the Unix epoch (fields ending in _us).",
        },
        "paths": paths,
        "components": components,
    }
    # A round trip through JSON: what is served is exactly what tests compare against.
    served: JsonDict = json.loads(json.dumps(doc))
    return served
