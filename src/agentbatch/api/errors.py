"""One error shape for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``.

User errors from the services keep their status and code; FastAPI's validation errors become
422 ``invalid_input`` with the failing fields in ``details``; values the database refuses
(a NUL character in PostgreSQL text, an over-long name) are 422 too, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from agentbatch.errors import UserError
from agentbatch.validation_text import describe_all

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Unauthorized(UserError):
    """No API key, or one that is unknown or revoked."""

    status_code = 401
    code = "unauthorized"


def error_content(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_content(code, message, details), status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        out.append(
            {
                "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


def _body_fields() -> set[str]:
    """Every request body's top-level field names (for "did you mean")."""
    from agentbatch import schemas

    names: set[str] = set()
    for value in vars(schemas).values():
        if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
            names.update(value.model_fields)
    return names


def _validation_message(details: list[dict[str, Any]]) -> str:
    return describe_all(details, _body_fields(), skip_body=True, list_known=False)


async def _user_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UserError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return error_response(exc.status_code, exc.code, str(exc), headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    return error_response(422, "invalid_input", _validation_message(details), details)


def _allowed_methods(request: Request) -> str:
    """Every method of every route on this path (Starlette lists only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "server_error" if exc.status_code >= 500 else "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(exc.status_code, code, message, headers=headers)


def _sqlstate(exc: DBAPIError) -> str:
    orig = getattr(exc, "orig", None)
    return str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """SQLSTATE class 22 (data exception: NUL in text, value too long, out of range) and
    Python's encode/overflow errors from SQLite are bad input; 23 (integrity) a conflict."""
    state = _sqlstate(exc) if isinstance(exc, DBAPIError) else ""
    if isinstance(exc, IntegrityError) or state.startswith("23"):
        log.info("integrity error (%s) on %s", state or type(exc).__name__, request.url.path)
        return error_response(409, "conflict", "the request conflicts with existing data")
    if (
        isinstance(exc, DBAPIError)
        and not isinstance(exc, DataError)
        and not state.startswith("22")
    ):
        return await _unexpected(request, exc)
    log.info(
        "the database refused a value (%s) on %s", state or type(exc).__name__, request.url.path
    )
    return error_response(
        422,
        "invalid_input",
        "a value in the request cannot be stored (too long, out of range, or not valid text)",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(UserError, _user_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _data_error)
    app.add_exception_handler(UnicodeEncodeError, _data_error)
    app.add_exception_handler(OverflowError, _data_error)
    app.add_exception_handler(Exception, _unexpected)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": code.replace("_", " ")}
    for status, code in _CODES.items()
    if status in (400, 401, 404, 409, 413, 422)
}
