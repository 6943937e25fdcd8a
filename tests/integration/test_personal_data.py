"""Personal data (issue 15, item 5): names are hashed with HMAC-SHA256 under a key from the secret
store (not the repository); the key is readable by the transformer only and never appears in
compiled SQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess

import psycopg
import pytest

from core.dbt import dbt_env, dbt_executable
from core.settings import project_dir
from terraminer import roles


def test_hash_personal_is_hmac_sha256_with_the_stores_key(db, tmp_path, monkeypatch):
    key = b"k3y-from-the-secret-store"
    monkeypatch.setenv("TERRAMINER_PII_KEY", key.decode())
    with db.connect() as conn:
        roles.install_pii_key(conn, db.settings.pii_key())
    result = subprocess.run(
        [dbt_executable(), "compile", "--quiet", "--target", "ci", "--target-path", str(tmp_path / "t"),
         "--vars", json.dumps({"offline_compile": True}),
         "--inline", "select {{ hash_personal(\"'  doe, jane '\") }} as h, {{ hash_personal(\"' '\") }} as empty"],
        cwd=project_dir(), env=dbt_env(db.settings, "ci"), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    compiled = result.stdout.strip()
    assert key.decode() not in compiled and key.hex() not in compiled
    with db.connect() as conn:
        digest, empty = conn.execute(compiled).fetchone()
    assert digest == hmac.new(key, b"DOE, JANE", hashlib.sha256).hexdigest()
    assert empty is None
    # only the transformer (and the admin) can read the key's pads
    for role in (roles.BI, roles.ML, roles.LOADER, roles.API):
        with psycopg.connect(**{**db.conninfo, "user": role}) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select ipad from terraminer_keys.pii_key")
    with psycopg.connect(**{**db.conninfo, "user": roles.TRANSFORMER}) as conn:
        assert conn.execute("select count(*) from terraminer_keys.pii_key").fetchone()[0] == 1


def test_the_key_is_generated_per_stack_and_private(tmp_path):
    from core.settings import Settings

    settings = Settings(env="ci", home=tmp_path)
    first = settings.pii_key()
    assert first == Settings(env="ci", home=tmp_path).pii_key() and len(first) == 64
    assert Settings(env="ci", home=tmp_path / "other").pii_key() != first
    assert oct((settings.secrets_dir / "pii_key").stat().st_mode & 0o777) == "0o600"
