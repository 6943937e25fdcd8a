"""The data version: bumped after each dbt build / valuation run (the Dagster asset
``api_data_version``), read by every API process (through Redis) to key its cache."""

from __future__ import annotations

import json

import psycopg

from api.cache import Cache
from api.service import queries as q


def bump_data_version(conn: psycopg.Connection, cache: Cache | None = None, detail: dict | None = None) -> str:
    """Fingerprint the marts, publish it in ``api_meta.data_version`` and in Redis; return it.

    ``conn`` is a connection as ``terraminer_api`` (or the admin)."""
    version = "b" + conn.execute(q.FINGERPRINT).fetchone()[0][:15]
    with conn.transaction():
        conn.execute(
            "insert into api_meta.data_version (singleton, version, detail, bumped_at) values (true, %s, %s, now()) "
            "on conflict (singleton) do update set version = excluded.version, detail = excluded.detail, "
            "bumped_at = excluded.bumped_at",
            (version, json.dumps(detail or {})),
        )
    if cache is not None:
        cache.publish_version(version)
    return version
