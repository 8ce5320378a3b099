"""The one place where errors become HTTP responses.

Shape: ``{"error": {"code": "...", "message": "...", "details": ...}}``. Typed
errors map to 4xx; a database fault (translated once in ``heurist.db.faults``) to a
503 with ``Retry-After`` when the database is unavailable, or a 507 when its disk is
full; anything unexpected is logged with its traceback and answers a 500 that names
no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from heurist.db.faults import (
    RETRY_AFTER_SECONDS,
    DatabaseFault,
    DatabaseUnavailable,
    StorageFull,
)
from heurist.errors import (
    AuthError,
    Conflict,
    HeuristError,
    InvalidInput,
    NotFound,
    QueuePaused,
    TooBusy,
)

log = logging.getLogger(__name__)

STATUS: dict[type[HeuristError], int] = {
    NotFound: 404,
    Conflict: 409,
    QueuePaused: 409,
    InvalidInput: 422,
    AuthError: 401,
    TooBusy: 429,
    DatabaseUnavailable: 503,
    StorageFull: 507,
}


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The shape of every error answer."""

    error: ErrorDetail


MEANINGS = {
    400: "a NUL byte in a path or query parameter, or a body that is not JSON",
    401: "a missing or wrong bearer token",
    403: "a state-changing request from a foreign Origin",
    404: "no such entry or category",
    409: "a conflict: a value already taken, or the queue is paused",
    413: "the request body is over the limit",
    421: "a Host this server does not answer to",
    422: "a value breaks a rule or a limit (the field and the limit are named)",
    429: "too many requests of this kind are waiting; retry after Retry-After",
    503: "the database is unavailable; retry after Retry-After",
    507: "the disk under the database is full",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error answers, in the error shape."""
    return {s: {"model": ErrorResponse, "description": MEANINGS[s]} for s in statuses}


# What any operation may answer: refused by a middleware, bad input, or a database fault.
COMMON_ERRORS = documented(400, 401, 403, 413, 421, 422, 503, 507)


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _status_for(exc: HeuristError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def _heurist_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HeuristError)
    status = _status_for(exc)
    headers: dict[str, str] | None = None
    if isinstance(exc, DatabaseFault):
        # Expected in an outage: one line with the driver's text, no traceback.
        log.warning("request answered %d: %s", status, exc.reason)
    elif status >= 500:
        log.error("request failed: %s", exc.message)
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif status in (429, 503):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(
        error_body(exc.code, exc.message, exc.details), status_code=status, headers=headers
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(err) for err in exc.errors()]
    if any(p["type"] == "json_invalid" for p in problems):
        return JSONResponse(
            error_body("malformed_json", "the request body is not valid JSON", problems),
            status_code=400,
        )
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return JSONResponse(error_body("validation_error", message, problems), status_code=422)


def _describe(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
    out: dict[str, Any] = {
        "field": ".".join(loc) or "body",
        "message": err.get("msg", "invalid"),
        "type": err.get("type", "invalid"),
    }
    ctx = err.get("ctx") or {}
    for key in ("max_length", "min_length", "le", "ge", "lt", "gt", "pattern", "expected"):
        if key in ctx:
            out["limit" if key in ("max_length", "le", "lt") else key] = ctx[key]
    return out


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
        exc.status_code, "http_error"
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the methods of the first route on the path; say them all.
        allow = _allowed_methods(request) or headers.get("Allow", "")
        headers["Allow"] = allow
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=headers)
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=headers
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route answers on this path (HEAD with GET, and OPTIONS): each
    method asked of the router as a request of it would be."""
    routes = request.app.router.routes
    methods = {
        method
        for method in METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    }
    if not methods:
        return ""
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods | {"OPTIONS"}))


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "an unexpected error occurred; see the server log"),
        status_code=500,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(HeuristError, _heurist_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
