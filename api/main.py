"""The app factory: routers, problem+json errors and the process-wide context (pool, cache, keys)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import errors
from api.cache import Cache, make_client
from api.deps import ApiContext
from api.fastpath import CachedLookups
from api.heap import settle_heap
from api.ratelimit import RateLimiter
from api.routes import alerts, estimates, graphql, health, markets, properties, subscriptions
from api.security import KeyStore
from api.service import DataService
from api.service.db import make_pool
from api.service.estimates import Estimator
from core.settings import Settings, get_settings

log = logging.getLogger("terraminer.api")


def build_context(settings: Settings, pool=None, estimator=None) -> ApiContext:
    pool = pool or make_pool(settings)
    url = settings.cache_url if settings.api_cache else None
    cache = Cache(make_client(url), ttl_s=settings.api_cache_ttl_s, version_ttl_s=settings.api_version_ttl_s, url=url)
    estimator = estimator if estimator is not None else Estimator(settings)
    service = DataService(pool, cache, settings, estimator)
    return ApiContext(settings=settings, pool=pool, cache=cache, service=service, keys=KeyStore(pool),
                      limiter=RateLimiter(cache, settings.api_rate_limit, settings.api_rate_window_s),
                      estimator=estimator)


def create_app(settings: Settings | None = None, context: ApiContext | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = context is None
        app.state.ctx = context or build_context(settings)
        settle_heap()
        try:
            yield
        finally:
            if owned:
                app.state.ctx.pool.close()

    app = FastAPI(
        title="TerraMiner data API",
        version="1",
        description="Valuations, properties, markets, indices and alerts from the TerraMiner marts. "
                    "Send `Authorization: Bearer <key>` (`terraminer api-key create`).",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(CachedLookups)
    for module in (health, properties, estimates, markets, alerts, subscriptions):
        app.include_router(module.router, prefix="/v1")
    app.include_router(graphql.router)
    return app
