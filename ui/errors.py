"""The errors a person can be shown, and how each becomes the one error shape:

    {"error": {"code": "invalid_request", "message": "Prompt must not be empty."}}

This module is the floor of ui/: every area raises these exceptions and answers with
`error_response`, and it imports none of them. The exceptions are defined here, not where
they are raised, so that the mapping below (exception → status and code) is one table
beside the exceptions it maps.

The handlers installed by `install_error_handlers` cover FastAPI's own errors (validation,
unknown paths, wrong methods), these exceptions, and anything unexpected, which is logged
with its traceback and answered with a plain 500: no stack trace leaves the server.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.common.errors import RequestError
from models.common.messages import explain

# --- what goes wrong ------------------------------------------------------------------------


class NotFound(KeyError):
    """No such result, file or job: unknown, malformed or deleted id. Message is safe to show."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "Not found."


class Forbidden(PermissionError):
    """The owner secret is missing or wrong."""


class NotAllowed(Forbidden):
    """What nobody may do, the owner included: publish a result the safety checker flagged or a
    moderator hid. Its message says which."""


class GenerationError(RuntimeError):
    """A generation that failed for a reason outside the request. `status` is the HTTP status."""

    status = 502


class ModelUnavailable(GenerationError):
    """The model can't run at all right now: weights missing, Modal unreachable, too busy, ..."""

    status = 503


class GenerationTimeout(GenerationError):
    status = 504


# --- the one shape ----------------------------------------------------------------------------


def error_response(status: int, code: str, message: str) -> JSONResponse:
    """The one error shape every endpoint returns."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


# The code for each status when nothing more specific is known.
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    411: "length_required",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    502: "generation_failed",
    503: "model_unavailable",
    504: "timeout",
}


class ApiError(StarletteHTTPException):
    """An error with its code and a message meant for whoever sent the request."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.code = code


def failure(e: BaseException) -> tuple[int, str, str]:
    """(status, code, message) for an exception raised while generating."""
    if isinstance(e, RequestError):
        return 422, "invalid_request", str(e)
    if isinstance(e, GenerationError):
        return e.status, STATUS_CODES.get(e.status, "generation_failed"), str(e)
    if isinstance(e, TimeoutError):
        return 504, "timeout", "The generation took too long and was stopped."
    return 500, "internal_error", "Something went wrong on our side; it has been logged."


def validation_message(exc: RequestValidationError) -> tuple[int, str, str]:
    """FastAPI's validation errors in the request schemas' own words (models.common.messages.explain)."""
    errors = exc.errors()
    if any(e["type"] == "json_invalid" for e in errors):
        return 400, "malformed_json", "The request body is not valid JSON."
    return 422, "invalid_request", explain(ValidationError.from_exception_data("request", [_rebuilt(e) for e in errors]))


def _rebuilt(error: dict) -> dict:
    """One error as pydantic reports it, minus the "body"/"query"/"path" prefix FastAPI adds to its place."""
    detail = {"type": error["type"], "loc": tuple(error["loc"][1:]), "input": error.get("input")}
    if "ctx" in error:
        detail["ctx"] = error["ctx"]
    try:
        ValidationError.from_exception_data("request", [detail])
    except (KeyError, TypeError, ValueError):  # a custom error type (e.g. a melody check): keep its words
        detail = {"type": PydanticCustomError(error["type"], error["msg"]), "loc": detail["loc"], "input": detail["input"]}
    return detail


def install_error_handlers(app: FastAPI) -> None:
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = getattr(exc, "code", None) or STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc, ApiError) else _default_message(exc)
        response = error_response(exc.status_code, code, message)
        response.headers.update(exc.headers or {})
        return response

    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(*validation_message(exc))

    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return error_response(422, "invalid_request", str(exc))

    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    async def forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return error_response(403, "forbidden", str(exc))

    async def generation_failed(request: Request, exc: GenerationError) -> JSONResponse:
        return error_response(*failure(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette logs the traceback after this handler answers; the client sees none of it.
        return error_response(*failure(exc))

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(RequestError, request_error)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(GenerationError, generation_failed)
    app.add_exception_handler(Exception, unexpected)


def _default_message(exc: StarletteHTTPException) -> str:
    match exc.status_code:
        case 404:
            return "There is nothing at this address."
        case 405:
            allowed = (exc.headers or {}).get("Allow")
            return "This address does not accept that method" + (f"; it accepts {allowed}." if allowed else ".")
        case 413:
            return "The request body is too large."
        case 400:
            return "The request body could not be read."
    return str(exc.detail)
