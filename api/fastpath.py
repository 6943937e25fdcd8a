"""The hot read, served before the framework: a cached property lookup.

``GET /v1/properties/{id}`` for a key holding the ``properties`` and ``valuations`` scopes is the
API's most frequent call and, once cached, its answer is stored JSON. Routing, dependency
injection and parameter validation cost more than the answer itself (measured: most of a cached
request's CPU), so this middleware serves exactly that case: a key this process verified
recently (``KeyStore.known``; never a warehouse wait here), its rate limit and the data version in
one Redis round trip (:meth:`RateLimiter.acheck`), the stored JSON from this process's table or
Redis. Everything else (no key, an unknown or unverified key, a narrower scope, a malformed id, a
cache miss, a 429) goes on to the FastAPI route, carrying the rate-limit decision already taken
(``CHECKED``) so a request is counted once. Answers are byte for byte those of the route.
"""

from __future__ import annotations

import re

from api.deps import CHECKED

_PATH = re.compile(r"^/v1/properties/([A-Za-z0-9_.:-]{1,64})$")
_HEADERS = [(b"content-type", b"application/json")]
_NEEDS = frozenset({"properties", "valuations"})


class CachedLookups:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        match = _PATH.match(scope["path"])
        if match is None:
            return await self.app(scope, receive, send)
        ctx = getattr(scope["app"].state, "ctx", None)
        authorization = next((v for k, v in scope["headers"] if k == b"authorization"), b"").decode("latin-1")
        if ctx is None or not authorization.startswith("Bearer "):
            return await self.app(scope, receive, send)
        text = authorization[7:].strip()
        key = ctx.keys.verify(text) if ctx.keys.known(text) else None
        if key is None or not _NEEDS <= key.scopes:
            return await self.app(scope, receive, send)
        decision = await ctx.limiter.acheck(key.key_id, key.rate_limit, key.rate_window_s)
        if decision.allowed:
            raw = await ctx.service.property_detail_cached(match.group(1))
            if raw is not None:
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(len(raw)).encode()), *_HEADERS]})
                await send({"type": "http.response.body", "body": raw})
                return None
        scope.setdefault("state", {})[CHECKED] = (key, decision)
        return await self.app(scope, receive, send)
