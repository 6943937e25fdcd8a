"""API keys: generated once, stored only as a SHA-256 hash, compared in constant time, scoped.

A key reads ``tm_<key_id>_<secret>``: ``key_id`` (public, 8 hex digits) finds the row, the whole
key's SHA-256 is compared with :func:`hmac.compare_digest`. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg

SCOPES = ("markets", "properties", "valuations", "estimates", "alerts")
_KEY_RE = re.compile(r"^tm_([0-9a-f]{8})_([A-Za-z0-9_-]{20,64})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: frozenset[str]
    rate_limit: int | None
    rate_window_s: int | None
    expires_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """``(key_id, key)``: 32 bits of public id, 256 bits of secret."""
    key_id = secrets.token_hex(4)
    return key_id, f"tm_{key_id}_{secrets.token_urlsafe(32)}"


def parse_scopes(text: str) -> list[str]:
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"unknown scope(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(SCOPES)}")
    return scopes


def create_key(conn: psycopg.Connection, name: str, scopes: list[str], expires_days: float | None = None,
               rate_limit: int | None = None, rate_window_s: int | None = None) -> str:
    """Store a new key's hash and return the key (the only time it is ever visible)."""
    if not _NAME_RE.match(name):
        raise ValueError("a key name is 1-64 letters, digits, '_', '.' or '-'")
    key_id, key = generate_key()
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    with conn.transaction():
        taken = conn.execute("select 1 from api_meta.api_keys where name = %s and revoked_at is null",
                             (name,)).fetchone()
        if taken:
            raise ValueError(f"an active key named {name!r} exists: revoke it first")
        conn.execute(
            "insert into api_meta.api_keys (key_id, name, key_hash, scopes, rate_limit, rate_window_s, expires_at) "
            "values (%s, %s, %s, %s, %s, %s, %s)",
            (key_id, name, hash_key(key), scopes, rate_limit, rate_window_s, expires),
        )
    return key


def list_keys(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select name, key_id, array_to_string(scopes, ','), rate_limit, created_at, expires_at, revoked_at "
        "from api_meta.api_keys order by created_at, name"
    ).fetchall()


def revoke_key(conn: psycopg.Connection, name: str) -> int:
    with conn.transaction():
        cur = conn.execute("update api_meta.api_keys set revoked_at = now() where name = %s and revoked_at is null",
                           (name,))
    return cur.rowcount


class KeyStore:
    """Verifies bearer keys against ``api_meta.api_keys``; verified rows are kept ``ttl`` seconds
    in memory (a revoked key stops working within ``ttl``)."""

    def __init__(self, pool, ttl: float = 10.0):
        self.pool, self.ttl = pool, ttl
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def known(self, key: str) -> bool:
        """Whether :meth:`verify` can answer without the warehouse (a malformed key or a fresh entry):
        the async request path calls it to keep warehouse waits off the event loop."""
        if not _KEY_RE.match(key or ""):
            return True
        hit = self._cache.get(hash_key(key))
        return hit is not None and hit[0] >= time.monotonic()

    def verify(self, key: str) -> ApiKey | None:
        match = _KEY_RE.match(key or "")
        if not match:
            return None
        digest = hash_key(key)
        hit = self._cache.get(digest)
        now = time.monotonic()
        if hit is None or hit[0] < now:
            hit = (now + self.ttl, self._lookup(match.group(1), digest))
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = hit
        found = hit[1]
        if found is None or (found.expires_at is not None and found.expires_at <= datetime.now(UTC)):
            return None
        return found

    def _lookup(self, key_id: str, digest: str) -> ApiKey | None:
        with self.pool.connection() as conn:
            row = conn.execute(
                "select key_hash, name, scopes, rate_limit, rate_window_s, expires_at from api_meta.api_keys "
                "where key_id = %s and revoked_at is null", (key_id,),
            ).fetchone()
        # compare even when no row matched, so timing says nothing about which ids exist
        stored = row[0] if row else "0" * 64
        if not hmac.compare_digest(stored.encode(), digest.encode()) or row is None:
            return None
        return ApiKey(key_id, row[1], frozenset(row[2]), row[3], row[4], row[5])
