"""DataService: warehouse reads (pool as ``terraminer_api``), cached in Redis by data version.

Methods return JSON-ready dicts/lists, so a cached answer and a fresh one are the same bytes.
The ``*_many`` methods take many ids and cost one statement: GraphQL's DataLoaders call them.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

from api.cache import VERSION_KEY, Cache, request_version
from api.service import queries as q
from api.service.db import rows


class NotFound(Exception):
    def __init__(self, what: str, field: str):
        super().__init__(what)
        self.field = field


def encode_cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(text: str) -> Any:
    """The cursor's payload; ValueError when it is not one this API wrote."""
    try:
        padded = text + "=" * (-len(text) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except Exception as err:  # noqa: BLE001 - any garbage is a bad cursor
        raise ValueError("not a cursor returned by this API") from err


class DataService:
    def __init__(self, pool, cache: Cache, settings=None, estimator=None):
        self.pool, self.cache, self.settings, self.estimator = pool, cache, settings, estimator
        self.statements = 0  # SQL statements run (tests check GraphQL batching with it)
        self._local_version: tuple[float, str] | None = None
        self._version_refresh: asyncio.Task | None = None
        self._thread = threading.local()

    # --------------------------------------------------------------- plumbing
    @contextmanager
    def session(self):
        """One pool connection for every statement of the block (in this thread): a lookup of several
        statements queues for the pool once, not once per statement."""
        if getattr(self._thread, "conn", None) is not None:
            yield
            return
        with self.pool.connection() as conn:
            self._thread.conn = conn
            try:
                yield
            finally:
                self._thread.conn = None

    def _rows(self, query: str, params: Any = None) -> list[dict]:
        self.statements += 1
        conn = getattr(self._thread, "conn", None)
        if conn is not None:
            return rows(conn, query, params)
        with self.pool.connection() as conn:
            return rows(conn, query, params)

    def _one(self, query: str, params: Any = None) -> dict | None:
        found = self._rows(query, params)
        return found[0] if found else None

    def load_version(self) -> str:
        """The published data version (api_meta.data_version), else a fingerprint of the marts."""
        self.statements += 1
        with self.pool.connection() as conn:
            row = conn.execute("select version from api_meta.data_version").fetchone()
            if row:
                return row[0]
            return "f" + conn.execute(q.FINGERPRINT).fetchone()[0][:15]

    def data_version(self) -> str:
        if self.cache.available:
            return self.cache.version(self.load_version)
        # no Redis: nothing is cached, but health and answers still name the version
        now = time.monotonic()
        if self._local_version is None or self._local_version[0] < now:
            self._local_version = (now + max(self.cache.version_ttl_s, 0.5), self.load_version())
        return self._local_version[1]

    def cached(self, name: str, params: Any, load):
        if not self.cache.available:
            return load()
        return self.cache.get_or_load(self.cache.key(self.data_version(), name, params), load)

    # ------------------------------------------------------------- properties
    def list_properties(self, region_id=None, postcode=None, property_type=None, limit=50, cursor=None) -> dict:
        after = None
        if cursor:
            payload = decode_cursor(cursor)
            if not isinstance(payload, dict) or not isinstance(payload.get("after"), str):
                raise ValueError("not a cursor returned by this API")
            after = payload["after"]
        params = {"region_id": region_id, "postcode": postcode, "property_type": property_type,
                  "after": after, "limit": limit + 1}

        def load():
            found = self._rows(q.LIST_PROPERTIES, params)
            more = len(found) > limit
            items = found[:limit]
            return {"items": items,
                    "next_cursor": encode_cursor({"after": items[-1]["property_id"]}) if more else None}

        return self.cached("properties", params, load)

    def properties_many(self, ids: list[str]) -> dict[str, dict]:
        return {r["property_id"]: r for r in self._rows(q.PROPERTIES_BY_ID, (list(ids),))}

    def valuations_many(self, ids: list[str]) -> dict[str, dict]:
        return {r["property_id"]: r for r in self._rows(q.VALUATIONS_BY_PROPERTY, (list(ids),))}

    def sales_many(self, ids: list[str]) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in self._rows(q.SALES_BY_PROPERTY, (list(ids),)):
            grouped[row.pop("property_id")].append(row)
        return grouped

    def comparables(self, property_id: str, limit: int = 5) -> list[dict]:
        return self._rows(q.COMPARABLES, {"property_id": property_id, "limit": limit})

    def provenance(self, property_id: str, valuation: dict | None, version: str) -> dict:
        files = self._rows(q.SALE_FILES, (property_id,))
        versions: dict[str, list[dict]] = defaultdict(list)
        if files:
            try:
                for row in self._rows(q.LEDGER_VERSIONS, ([f["file_key"] for f in files],)):
                    versions[row["file_key"]].append(
                        {"contract": row["contract"], "file_version": row["file_version"],
                         "loaded_at": row["loaded_at"]})
            except Exception:  # noqa: BLE001 - the ledger is optional (not granted, or Redshift)
                pass
        build = self._one(q.PROPERTY_BUILD, (property_id,)) or {}
        model = None
        if valuation:
            model = {"model_name": valuation["model_name"], "model_version": valuation["model_version"],
                     "scored_at": valuation["scored_at"],
                     "mlflow_run_id": self.estimator.run_id(valuation["model_version"]) if self.estimator else None}
        return {
            "source_systems": sorted({f["source_system"] for f in files}),
            "landing_files": [{"file_key": f["file_key"], "source_system": f["source_system"],
                               "loads": versions.get(f["file_key"], [])} for f in files],
            "dbt_build": {"data_version": version, "dim_properties_updated_at": build.get("dbt_updated_at"),
                          "loaded_at": build.get("loaded_at")},
            "valuation_run": model,
        }

    async def property_detail_cached(self, property_id: str) -> bytes | None:
        """The cached JSON of :meth:`property_detail`, from the cache only (None: not cached, or the
        data version is not in Redis): for the event loop, it never waits for the warehouse."""
        if not self.cache.available:
            return None
        version = request_version.get() or await self.cache.acall(
            lambda c: c.get(VERSION_KEY), lambda c: c.get(VERSION_KEY))
        if not version:
            version = await self._refreshed_version()
        if not version:
            return None
        if isinstance(version, bytes):
            version = version.decode()
        return await self.cache.apeek(self.cache.key(version, "property", property_id))

    async def _refreshed_version(self) -> str | None:
        """The data version after its key expired in Redis (every ``version_ttl_s``): one warehouse
        read per process, in a worker thread, shared by every request that found the key gone
        meanwhile (without it, each of them took the uncached path and read the version itself:
        a burst of slow answers every few seconds)."""
        loop = asyncio.get_running_loop()
        pending = self._version_refresh
        if pending is None or pending.get_loop() is not loop or pending.done():
            pending = self._version_refresh = loop.create_task(asyncio.to_thread(self.data_version))
        try:
            return await asyncio.shield(pending)
        except Exception:  # noqa: BLE001 - the warehouse path answers and reports its own error
            return None

    def property_detail(self, property_id: str) -> dict:
        version = self.data_version() if self.cache.available else None

        def load():
            with self.session():
                return build()

        def build():
            prop = self.properties_many([property_id]).get(property_id)
            if prop is None:
                return None
            valuation = self.valuations_many([property_id]).get(property_id)
            if valuation:
                valuation = {k: v for k, v in valuation.items() if k != "property_id"}
                valuation["interval_level"] = 0.8
            return {
                **prop,
                "sales": self.sales_many([property_id]).get(property_id, []),
                "valuation": valuation,
                "comparables": self.comparables(property_id),
                "provenance": self.provenance(property_id, valuation, version or self.data_version()),
            }

        if version is None:
            found = load()
        else:
            found = self.cache.get_or_load(self.cache.key(version, "property", property_id), load)
        if found is None:
            raise NotFound(f"no property {property_id!r}", "property_id")
        return found

    # ---------------------------------------------------------------- markets
    def region_exists(self, region_id: str) -> bool:
        return bool(self.cached("region", region_id,
                                lambda: self._one(q.REGION_EXISTS, {"r": region_id})["?column?"]))

    def market_monthly_many(self, regions: list[str], start: dt.date | None = None,
                            end: dt.date | None = None) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = defaultdict(list)
        for row in self._rows(q.MARKET_MONTHLY, {"regions": list(regions), "start": start, "end": end}):
            grouped[row["region_id"]].append(row)
        return grouped

    def market_monthly(self, region_id: str, start=None, end=None) -> dict:
        if not self.region_exists(region_id):
            raise NotFound(f"no region {region_id!r}", "region_id")
        items = self.cached("monthly", [region_id, start, end],
                            lambda: self.market_monthly_many([region_id], start, end).get(region_id, []))
        return {"region_id": region_id, "items": items, "next_cursor": None}

    def indices_many(self, regions: list[str]) -> dict[str, list[dict]]:
        series: dict[str, dict[tuple, dict]] = defaultdict(dict)
        for row in self._rows(q.INDICES, (list(regions),)):
            key = (row["index_source"], row["series_id"])
            entry = series[row["region_id"]].setdefault(key, {
                "index_source": row["index_source"], "series_id": row["series_id"], "index_unit": row["index_unit"],
                "index_method": row["index_method"], "points": []})
            entry["points"].append({k: row[k] for k in ("index_month", "index_value", "index_value_rebased",
                                                         "mom_change_pct", "yoy_change_pct", "sales_count")})
        return {region: list(entries.values()) for region, entries in series.items()}

    def indices(self, region_id: str) -> dict:
        if not self.region_exists(region_id):
            raise NotFound(f"no region {region_id!r}", "region_id")
        items = self.cached("indices", region_id, lambda: self.indices_many([region_id]).get(region_id, []))
        return {"region_id": region_id, "items": items, "next_cursor": None}

    # ----------------------------------------------------------------- alerts
    def alerts(self, since=None, region_ids: list[str] | None = None, alert_type=None, limit=100,
               cursor=None) -> dict:
        after_date = after_id = None
        if cursor:
            payload = decode_cursor(cursor)
            if not (isinstance(payload, list) and len(payload) == 2 and all(isinstance(p, str) for p in payload)):
                raise ValueError("not a cursor returned by this API")
            try:
                after_date, after_id = dt.date.fromisoformat(payload[0]), payload[1]
            except ValueError as err:
                raise ValueError("not a cursor returned by this API") from err
        params = {"since": since, "regions": region_ids, "alert_type": alert_type, "after_date": after_date,
                  "after_id": after_id, "limit": limit + 1}

        def load():
            found = self._rows(q.ALERTS, params)
            more = len(found) > limit
            items = found[:limit]
            last = items[-1] if items else None
            return {"items": items, "next_cursor":
                    encode_cursor([last["detected_for_date"], last["alert_id"]]) if more else None}

        return self.cached("alerts", params, load)

    def alerts_many(self, regions: list[str]) -> dict[str, list[dict]]:
        grouped: dict[str, list[dict]] = defaultdict(list)
        params = {"since": None, "regions": list(regions), "alert_type": None, "after_date": None,
                  "after_id": None, "limit": 100_000}
        for row in self._rows(q.ALERTS, params):
            grouped[row["region_id"]].append(row)
        return grouped

    # ----------------------------------------------------------------- health
    def health(self) -> dict:
        started = time.perf_counter()
        warehouse: dict[str, Any]
        try:
            fresh = self._one(q.FRESHNESS)
            warehouse = {"status": "up", "ms": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as err:  # noqa: BLE001 - health reports, never raises
            fresh = None
            warehouse = {"status": "down", "error": type(err).__name__}
        cache = self.cache.ping()
        version = None
        if warehouse["status"] == "up":
            try:
                version = self.data_version()
            except Exception:  # noqa: BLE001
                version = None
        model = self.estimator.status() if self.estimator else {"status": "off"}
        ok = warehouse["status"] == "up"
        return {"status": "ok" if ok and cache != "down" else ("degraded" if ok else "down"),
                "warehouse": warehouse, "cache": cache, "model": model, "data_version": version,
                "freshness": fresh}
