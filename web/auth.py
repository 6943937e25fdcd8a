"""Sessions for the web app: an API key proves who you are once, a signed cookie carries it after.

The cookie ``tm_session`` (HttpOnly, SameSite=Strict, Path=/app) holds ``{key_id, SHA-256 of the
key}`` signed with the app's secret (itsdangerous), never the key itself. Every request checks the
pair against ``api_meta.api_keys`` through the API's :class:`api.security.KeyStore` (a revoked or
expired key ends the session within the key store's TTL), then the key's rate limit and the page's
scope: the same keys and scopes as ``/v1``.

``terraminer api`` prints a one-time login URL (as Jupyter does): a token signed with the same
secret, valid for :data:`LOGIN_TOKEN_TTL_S` seconds and once (its nonce is burnt in Redis, or in
process memory when Redis is down).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from api.security import ApiKey, hash_key

COOKIE = "tm_session"
SESSION_MAX_AGE_S = 8 * 3600
LOGIN_TOKEN_TTL_S = 300
LOCAL_KEY_NAME = "web-local"
_used_local: dict[str, float] = {}
_lock = threading.Lock()


def secret_path(settings) -> Path:
    return settings.home_dir / "web" / "secret"


def app_secret(settings) -> str:
    """``TERRAMINER_WEB_SECRET``, else a random secret kept (mode 0600) under the stack's home."""
    env = os.environ.get("TERRAMINER_WEB_SECRET")
    if env:
        return env
    path = secret_path(settings)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _serializer(settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app_secret(settings), salt=salt)


def session_value(settings, key_id: str, digest: str) -> str:
    return _serializer(settings, "terraminer.web.session").dumps({"id": key_id, "d": digest})


def read_session(settings, value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    try:
        data = _serializer(settings, "terraminer.web.session").loads(value, max_age=SESSION_MAX_AGE_S)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("d"), str):
        return None
    return data["id"], data["d"]


def key_from_session(ctx, key_id: str, digest: str) -> ApiKey | None:
    """The session's key if it is still active (the API's key store: hashed lookup, constant-time
    comparison, revocation within its TTL)."""
    store = ctx.keys
    hit = store._cache.get(digest)
    now = time.monotonic()
    if hit is None or hit[0] < now:
        hit = (now + store.ttl, store._lookup(key_id, digest))
        store._cache[digest] = hit
    found = hit[1]
    if found is None or not hmac.compare_digest(found.key_id, key_id):
        return None
    if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
        return None
    return found


def key_session(key: str) -> tuple[str, str] | None:
    """``(key_id, digest)`` of a key typed into the login form (None: not a key's shape)."""
    from api.security import _KEY_RE

    match = _KEY_RE.match(key.strip())
    return (match.group(1), hash_key(key.strip())) if match else None


def login_token(settings, key: str) -> str:
    key_id, digest = key_session(key)
    return _serializer(settings, "terraminer.web.login").dumps(
        {"id": key_id, "d": digest, "n": secrets.token_urlsafe(12)})


def redeem_login_token(settings, cache, token: str) -> tuple[str, str] | None:
    """The token's ``(key_id, digest)``, once: a second use, an old or a forged token gives None."""
    try:
        data = _serializer(settings, "terraminer.web.login").loads(token, max_age=LOGIN_TOKEN_TTL_S)
    except (BadSignature, SignatureExpired):
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("id", "d", "n")):
        return None
    name = f"tm:web:login:{data['n']}"
    # True: first use; False: used before (in any worker); None: Redis down (memory decides alone)
    first = cache.call(lambda c: bool(c.set(name, b"1", nx=True, ex=LOGIN_TOKEN_TTL_S * 2)), default=None)
    with _lock:
        now = time.monotonic()
        for old in [k for k, t in _used_local.items() if t < now]:
            del _used_local[old]
        if name in _used_local or first is False:
            return None
        _used_local[name] = now + LOGIN_TOKEN_TTL_S * 2
    return data["id"], data["d"]


def local_login_url(settings, base_url: str) -> str:
    """Create (or replace) the local user's key ``web-local`` with every scope, expiring in a day,
    and return a one-time login URL for it (``terraminer api`` prints it)."""
    from api.cli import _connect
    from api.security import SCOPES, create_key, revoke_key

    with _connect(settings) as conn:
        revoke_key(conn, LOCAL_KEY_NAME)
        key = create_key(conn, LOCAL_KEY_NAME, list(SCOPES), expires_days=1)
    return f"{base_url}/app/login?token={login_token(settings, key)}"
