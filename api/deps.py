"""Request-scoped dependencies as typed names (STYLE "Services"): the service, the caller's key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.cache import Cache
from api.errors import ApiError
from api.ratelimit import Decision, RateLimiter
from api.security import ApiKey, KeyStore
from api.service import DataService


@dataclass
class ApiContext:
    """Everything one API process shares: built once by the app's lifespan."""

    settings: object
    pool: object
    cache: Cache
    service: DataService
    keys: KeyStore
    limiter: RateLimiter
    estimator: object


# async: FastAPI runs a plain-def dependency in its thread pool, a hop per request for nothing
async def get_context(request: Request) -> ApiContext:
    return request.app.state.ctx


async def get_service(request: Request) -> DataService:
    return request.app.state.ctx.service


Context = Annotated[ApiContext, Depends(get_context)]
Service = Annotated[DataService, Depends(get_service)]


# request state: (key, rate-limit decision) when api.fastpath already verified and counted the request
CHECKED = "terraminer_checked_key"


async def authenticate(ctx: ApiContext, authorization: str | None,
                       checked: tuple[ApiKey, Decision] | None = None) -> ApiKey:
    """The caller's key (401 without one or with a bad one), after its rate limit (429). A key not
    verified recently is looked up in a worker thread: waiting for a pool connection must never
    block the event loop. ``checked``: the key and decision api.fastpath took for this request."""
    if checked is not None:
        key, decision = checked
        return _within_limit(key, decision)
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(401, "send an API key: Authorization: Bearer <key>", "Authorization",
                       {"WWW-Authenticate": "Bearer"})
    text = authorization[7:].strip()
    key = ctx.keys.verify(text) if ctx.keys.known(text) else await run_in_threadpool(ctx.keys.verify, text)
    if key is None:
        raise ApiError(401, "the API key is unknown, revoked or expired", "Authorization",
                       {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    decision = await ctx.limiter.acheck(key.key_id, key.rate_limit, key.rate_window_s)
    return _within_limit(key, decision)


def _within_limit(key: ApiKey, decision: Decision) -> ApiKey:
    if not decision.allowed:
        raise ApiError(429, f"rate limit of {decision.limit} requests per window exceeded for this key", None,
                       {"Retry-After": str(decision.retry_after_s)}, retry_after_s=decision.retry_after_s)
    return key


def check_scope(key: ApiKey, scope: str) -> None:
    if scope not in key.scopes:
        raise ApiError(403, f"this key lacks the {scope!r} scope", "Authorization", required_scope=scope)


def require(scope: str):
    """A dependency: the caller's key, which must hold ``scope``."""

    async def dependency(request: Request) -> ApiKey:
        key = await authenticate(request.app.state.ctx, request.headers.get("authorization"),
                                 getattr(request.state, CHECKED, None))
        check_scope(key, scope)
        return key

    return Depends(dependency)


async def any_key(request: Request) -> ApiKey:
    return await authenticate(request.app.state.ctx, request.headers.get("authorization"),
                              getattr(request.state, CHECKED, None))


AnyKey = Annotated[ApiKey, Depends(any_key)]
