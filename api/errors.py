"""RFC 9457 problem+json for every error: a 4xx names the field that was wrong."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"
log = logging.getLogger("terraminer.api")

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
           409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class ApiError(Exception):
    """An error with an HTTP status; ``field`` names the parameter or body field at fault."""

    def __init__(self, status: int, detail: str, field: str | None = None, headers: dict | None = None,
                 **extra):
        super().__init__(detail)
        self.status, self.detail, self.field, self.headers, self.extra = status, detail, field, headers or {}, extra


def problem(status: int, detail: str, field: str | None = None, headers: dict | None = None,
            errors: list | None = None, **extra) -> JSONResponse:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = errors
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM)


def _field(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or (str(loc[-1]) if loc else "request")


def validation_problem(errors: list[dict]) -> JSONResponse:
    items = [{"field": "body" if e.get("type") == "json_invalid" else _field(e.get("loc", ())),
              "message": e.get("msg", "invalid")} for e in errors]
    first = items[0] if items else {"field": "request", "message": "invalid request"}
    status = 400
    return problem(status, f"{first['field']}: {first['message']}", field=first["field"], errors=items)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError):
        return problem(err.status, err.detail, err.field, err.headers, **err.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError):
        return validation_problem(list(err.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException):
        detail = err.detail if isinstance(err.detail, str) else _TITLES.get(err.status_code, "Error")
        field = "path" if err.status_code == 404 else None
        return problem(err.status_code, detail, field, getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception):
        import psycopg
        import psycopg_pool

        if isinstance(err, psycopg.errors.QueryCanceled):
            return problem(504, "the warehouse query exceeded the API's statement timeout")
        if isinstance(err, psycopg.OperationalError | psycopg_pool.PoolTimeout):
            return problem(503, "the warehouse is unavailable")
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error")
