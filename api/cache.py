"""Cache-aside in Redis. Every key carries the data version (the dbt build / valuation run behind
the rows), so a new build is visible at once and nothing needs flushing: old keys expire.

Redis is an accelerator, never a dependency: when it is unreachable every call degrades to "miss"
(answers come from the warehouse) and the client backs off for ``retry_s`` before trying again,
so a dead server costs one short timeout per ``retry_s``, not one per request.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis

log = logging.getLogger("terraminer.api.cache")
PREFIX = "tm:"
VERSION_KEY = PREFIX + "data_version"
# The data version read for the current request in the same round trip as its rate limit
# (ratelimit.RateLimiter.check): the request's cache reads then cost one more round trip, not two.
request_version: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_version", default=None)


def make_client(url: str | None, timeout: float = 0.25) -> redis.Redis | None:
    if not url:
        return None
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=0, max_connections=64)


class Cache:
    def __init__(self, client: redis.Redis | None, ttl_s: int = 3600, version_ttl_s: float = 5.0,
                 retry_s: float = 2.0):
        self.client = client
        self.ttl_s, self.version_ttl_s, self.retry_s = ttl_s, version_ttl_s, retry_s
        self.enabled = client is not None
        self._down_until = 0.0
        self.hits = self.misses = 0

    # ----------------------------------------------------------------- status
    @property
    def available(self) -> bool:
        return self.client is not None and self.enabled and time.monotonic() >= self._down_until

    def _failed(self, err: Exception) -> None:
        log.warning("redis unavailable (%s): answering from the warehouse", type(err).__name__)
        self._down_until = time.monotonic() + self.retry_s

    def call(self, fn: Callable[[redis.Redis], Any], default: Any = None) -> Any:
        """``fn(client)``, or ``default`` when Redis is off or down."""
        if not self.available:
            return default
        try:
            return fn(self.client)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
            self._failed(err)
            return default

    def ping(self) -> str:
        if self.client is None:
            return "off"
        try:
            self.client.ping()
            self._down_until = 0.0
            return "up"
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return "down"

    # ----------------------------------------------------------- data version
    def version(self, load: Callable[[], str]) -> str:
        """The current data version: from Redis (set by the bump asset or by an API process within
        ``version_ttl_s``), else ``load()`` from the warehouse, then shared through Redis."""
        known = request_version.get()
        if known:
            return known
        cached = self.call(lambda c: c.get(VERSION_KEY))
        if cached:
            return cached.decode()
        version = load()
        ttl = max(1, int(self.version_ttl_s)) if self.version_ttl_s else None
        if ttl:
            self.call(lambda c: c.set(VERSION_KEY, version, ex=ttl, nx=True))
        return version

    def publish_version(self, version: str) -> None:
        """A new build: every API process sees ``version`` on its next request."""
        ttl = max(1, int(self.version_ttl_s)) if self.version_ttl_s else None
        self.call(lambda c: c.set(VERSION_KEY, version, ex=ttl))

    # ------------------------------------------------------------- cache-aside
    @staticmethod
    def key(version: str, name: str, params: Any) -> str:
        digest = hashlib.sha1(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:20]
        return f"{PREFIX}{version}:{name}:{digest}"

    def peek(self, key: str) -> bytes | None:
        """The cached JSON bytes under ``key`` (None on a miss or without Redis)."""
        raw = self.call(lambda c: c.get(key))
        if raw is not None:
            self.hits += 1
        return raw

    def get_or_load(self, key: str, load: Callable[[], Any]) -> Any:
        raw = self.call(lambda c: c.get(key))
        if raw is not None:
            self.hits += 1
            return json.loads(raw)
        self.misses += 1
        value = load()
        if value is not None:
            body = json.dumps(value, separators=(",", ":"), default=str)
            self.call(lambda c: c.set(key, body, ex=self.ttl_s))
        return value
