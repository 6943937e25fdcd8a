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


def publish_build(settings, detail: dict | None = None) -> dict:
    """After a build: bump the data version (as ``terraminer_api``) and warm the hot keys (the first
    page of properties, every region's monthly figures and indices, the latest alerts) so the first
    callers after a build hit the cache. Redis down: the version is still published in the warehouse."""
    from api.cache import make_client
    from api.service.core import DataService
    from api.service.db import make_pool

    cache = Cache(make_client(settings.cache_url), ttl_s=settings.api_cache_ttl_s,
                  version_ttl_s=settings.api_version_ttl_s)
    pool = make_pool(settings, open_wait=True)
    try:
        with pool.connection() as conn:
            version = bump_data_version(conn, cache, detail)
            regions = [r[0] for r in conn.execute(
                "select distinct region_id from marts.mart_market_monthly where region_id is not null order by 1")]
        warmed = 0
        if cache.available:
            service = DataService(pool, cache, settings)
            service.list_properties(limit=50)
            service.alerts(limit=100)
            warmed += 2
            for region in regions:
                service.list_properties(region_id=region, limit=50)
                service.market_monthly(region)
                service.indices(region)
                warmed += 3
        return {"data_version": version, "warmed_keys": warmed, "cache": cache.ping()}
    finally:
        pool.close()
