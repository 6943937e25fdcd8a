"""Per-key token buckets in Redis (one Lua script, atomic across API processes).

A key allows ``limit`` requests per ``window_s`` seconds: the bucket holds ``limit`` tokens and
refills at ``limit / window_s`` tokens a second. An empty bucket answers 429 with ``Retry-After``
(whole seconds until one token is back). Redis down: requests are allowed (the API keeps
answering; ``/v1/health`` reports the cache down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
        self._script = cache.client.register_script(_SCRIPT) if cache.client is not None else None

    def check(self, key_id: str, limit: int | None = None, window_s: int | None = None) -> Decision:
        limit = limit or self.default_limit
        window_s = window_s or self.default_window_s
        if self._script is None:
            return Decision(True, 0, None, limit)
        rate_per_ms = limit / (window_s * 1000.0)

        def bucket_and_version(client):
            # one round trip: the bucket, and the data version this request's cache keys will carry
            pipe = client.pipeline(transaction=False)
            self._script(keys=[f"{PREFIX}rl:{key_id}"], args=[limit, rate_per_ms], client=pipe)
            pipe.get(VERSION_KEY)
            return pipe.execute()

        result = self.cache.call(bucket_and_version)
        if result is None:  # Redis down: fail open
            return Decision(True, 0, None, limit)
        bucket, version = result
        if version:
            request_version.set(version.decode())
        allowed, wait_ms, remaining = (int(v) for v in bucket)
        return Decision(bool(allowed), max(1, math.ceil(wait_ms / 1000)) if not allowed else 0, remaining, limit)
