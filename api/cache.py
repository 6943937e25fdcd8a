"""Cache-aside in Redis. Every key carries the data version (the dbt build / valuation run behind
the rows), so a new build is visible at once and nothing needs flushing: old keys expire.

Answers read from Redis are also kept in a small per-process table (``local_entries`` most recent,
at most ``local_bytes``): its keys carry the data version too, and every request reads the current
version from Redis with its rate limit (ratelimit.py), so a new build still shows at once while a
hot property costs one Redis round trip instead of two.

Redis is an accelerator, never a dependency: when it is unreachable every call degrades to "miss"
(answers come from the warehouse) and the client backs off for ``retry_s`` before trying again,
so a dead server costs one short timeout per ``retry_s``, not one per request.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from redis import asyncio as redis_async

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


def make_async_client(url: str, timeout: float = 0.25) -> redis_async.Redis:
    """The same server through redis-py's asyncio client: the event loop serves other requests while
    Redis answers (a blocking call would hold every request of the process for each round trip)."""
    return redis_async.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      health_check_interval=0, max_connections=64)


class Cache:
    def __init__(self, client: redis.Redis | None, ttl_s: int = 3600, version_ttl_s: float = 5.0,
                 retry_s: float = 2.0, local_entries: int = 4096, local_bytes: int = 32 << 20,
                 url: str | None = None):
        """``url``: the server's, for the asyncio client the request path uses (without it the
        async methods use ``client`` and block the loop for each round trip)."""
        self.client = client
        self.url = url if client is not None else None
        self._async_client: redis_async.Redis | None = None
        self._async_loop = None
        self.local_entries, self.local_bytes = local_entries, local_bytes
        self._local: OrderedDict[str, bytes] = OrderedDict()
        self._local_size = 0
        self._local_lock = threading.Lock()
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

    def _client_for_this_loop(self) -> redis_async.Redis | None:
        """The asyncio client of the running loop (one per loop: its connections belong to it)."""
        if self.url is None:
            return None
        loop = asyncio.get_running_loop()
        if self._async_loop is not loop:
            self._async_client, self._async_loop = make_async_client(self.url), loop
        return self._async_client

    async def acall(self, fn: Callable[[Any], Awaitable[Any]], sync_fn: Callable[[redis.Redis], Any] | None = None,
                    default: Any = None) -> Any:
        """``await fn(async_client)`` (``sync_fn(client)`` when this cache has no URL), or ``default``
        when Redis is off or down."""
        if not self.available:
            return default
        client = self._client_for_this_loop()
        if client is None:
            return self.call(sync_fn, default) if sync_fn is not None else default
        try:
            return await fn(client)
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

    async def apeek(self, key: str) -> bytes | None:
        """The cached JSON bytes under ``key`` (None on a miss or without Redis): from this process's
        table when it holds the key, else from Redis (and then kept here). On the event loop the
        Redis read does not block other requests."""
        if not self.available:
            return None
        raw = self._local_get(key)
        if raw is None:
            raw = await self.acall(lambda c: c.get(key), lambda c: c.get(key))
            if raw is not None:
                self._remember(key, raw)
        if raw is not None:
            self.hits += 1
        return raw

    def _local_get(self, key: str) -> bytes | None:
        with self._local_lock:
            raw = self._local.get(key)
            if raw is not None:
                self._local.move_to_end(key)
            return raw

    def _remember(self, key: str, raw: bytes) -> None:
        if len(raw) > self.local_bytes // 16:
            return  # a rare huge answer would evict many small ones
        with self._local_lock:
            previous = self._local.pop(key, None)
            self._local_size += len(raw) - (len(previous) if previous is not None else 0)
            self._local[key] = raw
            while len(self._local) > self.local_entries or self._local_size > self.local_bytes:
                _, dropped = self._local.popitem(last=False)
                self._local_size -= len(dropped)

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
