"""The API.md error body and the exception handlers that guarantee it for every failure."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from wagate.engine_failures import EngineFailure

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An error that leaves the API as `{"error": {code, message, details}}`."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers


class Unauthorized(ApiError):
    status_code, code = 401, "unauthorized"


class Forbidden(ApiError):
    status_code, code = 403, "forbidden"


class NotFound(ApiError):
    status_code, code = 404, "not_found"


class ValidationFailed(ApiError):
    status_code, code = 422, "validation_error"

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(message, details={"fields": [{"field": field, "message": message}]})


class Conflict(ApiError):
    status_code, code = 409, "conflict"


class InstanceNotConnected(ApiError):
    status_code, code = 409, "instance_not_connected"


class NotPairing(ApiError):
    status_code, code = 409, "not_pairing"


class Gone(ApiError):
    """What was there is not any more (received media whose bytes left the media store)."""

    status_code, code = 410, "gone"


class RangeNotSatisfiable(ApiError):
    status_code, code = 416, "range_not_satisfiable"


class PayloadTooLarge(ApiError):
    status_code, code = 413, "payload_too_large"


class RateLimited(ApiError):
    status_code, code = 429, "rate_limited"


class EngineError(ApiError):
    status_code, code = 502, "engine_error"


class Unavailable(ApiError):
    status_code, code = 503, "unavailable"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_details(errors: list[Any]) -> dict[str, Any]:
    fields = []
    for err in errors:
        message = str(err.get("msg", "invalid"))
        fields.append({"field": _field_name(err.get("loc", ())), "message": message})
    return {"fields": fields}


def database_unreachable(exc: SQLAlchemyError) -> bool:
    """A failure to reach the database (503), as opposed to a bug in a query (500)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | DisconnectionError):
        return True
    if isinstance(exc, DBAPIError):
        # No statement: it failed while connecting (database down, refusing connections).
        # A bare DBAPIError (no subclass such as IntegrityError): asyncpg's "the database
        # system is shutting down" and the like, met mid-statement during a restart.
        return (
            exc.connection_invalidated
            or not exc.statement
            or isinstance(exc.orig, OSError)
            or type(exc) is DBAPIError
        )
    return False


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(EngineFailure)
    async def _engine_failure(_: Request, exc: EngineFailure) -> JSONResponse:
        # The one place an engine's answer becomes an API error (engine_failures.STATUS).
        return JSONResponse(error_body(exc.code, str(exc)), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(list(exc.errors()))
        return JSONResponse(
            error_body("validation_error", "the request is not valid", details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (bytes that are not UTF-8 JSON): API.md
            # answers every bad body with 422 validation_error.
            details = {"fields": [{"field": "body", "message": str(exc.detail)}]}
            return JSONResponse(
                error_body("validation_error", "the request body is not valid JSON", details),
                status_code=422,
            )
        code = _HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(SQLAlchemyError)
    async def _database(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        if database_unreachable(exc):
            log.warning("database unreachable", path=request.url.path, error=type(exc).__name__)
            return JSONResponse(
                error_body("unavailable", "the database is unreachable; retry later"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        log.exception("database error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred"), status_code=500
        )

    @app.exception_handler(RedisError)
    @app.exception_handler(OSError)
    async def _queue_down(request: Request, exc: Exception) -> JSONResponse:
        # Redis (or another backend's socket) unreachable: API.md's 503, not a 500.
        log.warning("backend unavailable", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(
            error_body("unavailable", "the queue is unreachable; retry later"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not an input problem: log it with its traceback, answer without internals.
        log.exception("unhandled error", path=request.url.path)
        return JSONResponse(
            error_body("internal_error", "an unexpected error occurred"), status_code=500
        )


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: ErrorDetail


_DESCRIPTIONS = {
    401: "unauthorized: no or wrong token",
    403: "forbidden: admin-only route",
    404: "not_found",
    409: "conflict, instance_not_connected or not_pairing",
    410: "gone",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    422: "validation_error or not_on_whatsapp",
    429: "rate_limited",
    502: "engine_error",
    503: "unavailable",
    504: "send_timeout",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error status codes, plus those any `/v1/`
    route can answer: 401 (token), 422 (input) and 429 (the per-token rate limit)."""
    return {
        code: {"model": ErrorBody, "description": _DESCRIPTIONS.get(code, "error")}
        for code in (401, 422, 429, *codes)
    }
