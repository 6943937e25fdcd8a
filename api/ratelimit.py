"""Per-key token buckets in Redis (one Lua script, atomic across API processes).

A key allows ``limit`` requests per ``window_s`` seconds: the bucket holds ``limit`` tokens and
refills at ``limit / window_s`` tokens a second. An empty bucket answers 429 with ``Retry-After``
(whole seconds until one token is back). Redis down: requests are allowed (the API keeps
answering; ``/v1/health`` reports the cache down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.exceptions import NoScriptError

from api.cache import PREFIX, VERSION_KEY, Cache, request_version

# KEYS[1] bucket; ARGV: capacity, refill per ms. Uses the server clock (one clock for every process).
_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait_ms = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, wait_ms, math.floor(tokens)}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int
    remaining: int | None
    limit: int


class RateLimiter:
    def __init__(self, cache: Cache, default_limit: int, default_window_s: int):
        self.cache = cache
        self.default_limit, self.default_window_s = default_limit, default_window_s
        # EVALSHA straight away: redis-py's Script object in a pipeline sends SCRIPT EXISTS first,
        # one more round trip per request (a third of the cached path's time, measured)
        self._script = cache.client.register_script(_SCRIPT) if cache.client is not None else None

    def _prepare(self, key_id: str, limit: int | None, window_s: int | None) -> tuple[int, float, str]:
        limit = limit or self.default_limit
        window_s = window_s or self.default_window_s
        return limit, limit / (window_s * 1000.0), f"{PREFIX}rl:{key_id}"

    @staticmethod
    def _decide(result, limit: int) -> Decision:
        if result is None:  # Redis down: fail open
            return Decision(True, 0, None, limit)
        bucket, version = result
        if version:
            request_version.set(version.decode())
        allowed, wait_ms, remaining = (int(v) for v in bucket)
        return Decision(bool(allowed), max(1, math.ceil(wait_ms / 1000)) if not allowed else 0, remaining, limit)

    def _sync_round_trip(self, bucket_key: str, limit: int, rate_per_ms: float):
        sha = self._script.sha

        def bucket_and_version(client):
            for attempt in (1, 2):
                pipe = client.pipeline(transaction=False)
                pipe.evalsha(sha, 1, bucket_key, limit, rate_per_ms)
                pipe.get(VERSION_KEY)
                try:
                    return pipe.execute()
                except NoScriptError:  # a new or flushed server: load the script once, then retry
                    if attempt == 2:
                        raise
                    client.script_load(_SCRIPT)

        return bucket_and_version

    def check(self, key_id: str, limit: int | None = None, window_s: int | None = None) -> Decision:
        """The key's decision, blocking (for threads; request handlers await :meth:`acheck`)."""
        limit, rate_per_ms, bucket_key = self._prepare(key_id, limit, window_s)
        if self._script is None:
            return Decision(True, 0, None, limit)
        # one round trip: the bucket, and the data version this request's cache keys will carry
        return self._decide(self.cache.call(self._sync_round_trip(bucket_key, limit, rate_per_ms)), limit)

    async def acheck(self, key_id: str, limit: int | None = None, window_s: int | None = None) -> Decision:
        """:meth:`check` on the event loop, which serves other requests while Redis answers."""
        limit, rate_per_ms, bucket_key = self._prepare(key_id, limit, window_s)
        if self._script is None:
            return Decision(True, 0, None, limit)
        sha = self._script.sha

        async def bucket_and_version(client):
            for attempt in (1, 2):
                pipe = client.pipeline(transaction=False)
                pipe.evalsha(sha, 1, bucket_key, limit, rate_per_ms)
                pipe.get(VERSION_KEY)
                try:
                    return await pipe.execute()
                except NoScriptError:
                    if attempt == 2:
                        raise
                    await client.script_load(_SCRIPT)

        result = await self.cache.acall(bucket_and_version, self._sync_round_trip(bucket_key, limit, rate_per_ms))
        return self._decide(result, limit)
