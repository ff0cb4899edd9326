"""The API's wire shapes: one pydantic model per request body, query, path and response.

Each rule lives in one place: a named type in :mod:`web.wire.types` (built from the
constants of ``index/`` and ``surveil/``), used by the JSON API, the page forms and the
OpenAPI document alike (docs/design/api-types.md).
"""
