"""POST /graphql (and GET with ``?query=``): the Strawberry schema behind the same keys and limits."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from api.deps import authenticate
from api.errors import ApiError
from api.graphql import Forbidden, make_context, schema

router = APIRouter(tags=["graphql"])
MAX_BODY = 64 * 1024


async def _execute(request: Request, query, variables, operation_name):
    ctx = request.app.state.ctx
    key = await authenticate(ctx, request.headers.get("authorization"))
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, "query: a GraphQL query string is required", "query")
    if variables is not None and not isinstance(variables, dict):
        raise ApiError(400, "variables: must be a JSON object", "variables")
    if operation_name is not None and not isinstance(operation_name, str):
        raise ApiError(400, "operationName: must be a string", "operationName")
    result = await schema.execute(query, variable_values=variables, context_value=make_context(ctx.service, key),
                                  operation_name=operation_name)
    if result.errors:
        errors = [{"message": e.message, "path": e.path} for e in result.errors]
        forbidden = [e for e in result.errors if isinstance(e.original_error, Forbidden)]
        if forbidden:
            raise ApiError(403, str(forbidden[0].original_error), "query", errors=errors,
                           required_scope=forbidden[0].original_error.scope)
        faults = [e for e in result.errors if e.original_error is not None
                  and not isinstance(e.original_error, ValueError | Forbidden)]
        if faults:
            raise faults[0].original_error
        if result.data is None or any(isinstance(e.original_error, ValueError) for e in result.errors):
            first = result.errors[0]
            raise ApiError(400, f"query: {first.message}", "query", errors=errors)
        return JSONResponse({"data": result.data, "errors": errors})
    return JSONResponse({"data": result.data})


@router.post("/graphql", summary="GraphQL (body: {query, variables, operationName})")
async def graphql_post(request: Request):
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"body: at most {MAX_BODY} bytes", "body")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body: not valid JSON", "body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "body: expected a JSON object {query, variables, operationName}", "body")
    return await _execute(request, body.get("query"), body.get("variables"), body.get("operationName"))


@router.get("/graphql", summary="GraphQL over GET (?query=…)")
async def graphql_get(request: Request, query: Annotated[str, Query(max_length=8192)],
                      variables: Annotated[str | None, Query(max_length=8192)] = None):
    parsed = None
    if variables:
        try:
            parsed = json.loads(variables)
        except ValueError:
            raise ApiError(400, "variables: not valid JSON", "variables") from None
    return await _execute(request, query, parsed, request.query_params.get("operationName"))
