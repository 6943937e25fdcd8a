"""A small warehouse for the API tests: real embedded PostgreSQL (the session stack) with the mart
tables created from their dbt contracts (column names and types from the models' YAML), seeded
with a few hundred deterministic rows, the real roles (the API reads as terraminer_api), and the
stack's real embedded Valkey server. Nothing is mocked; building the marts with dbt is left to the
e2e tests (minutes), the API only needs their contract."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from core.settings import Settings, project_dir

MARTS = ("dim_properties", "fct_sales", "mart_property_valuations", "mart_market_monthly",
         "fct_price_index_monthly", "mart_alerts")
REGIONS = ("R01", "R02", "R03")
PROPERTIES_PER_REGION = 40


def contract_columns() -> dict[str, list[tuple[str, str]]]:
    found = {}
    for path in Path(project_dir(), "dbt_project/models/marts").rglob("_*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if model["name"] in MARTS:
                found[model["name"]] = [(c["name"], c["data_type"]) for c in model["columns"]]
    return found


def _insert(conn, table: str, rows: list[dict]) -> None:
    columns = list(rows[0])
    with conn.cursor().copy(f"copy marts.{table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def seed(conn: psycopg.Connection) -> dict:
    rng = random.Random(17)
    props, sales, vals, monthly, index, alerts = [], [], [], [], [], []
    months = [dt.date(2023 + (m // 12), m % 12 + 1, 1) for m in range(24)]
    for region in REGIONS:
        for i in range(PROPERTIES_PER_REGION):
            pid = f"syn:P{region}{i:04d}"
            sqft = rng.randrange(800, 3200, 50)
            sub = f"{region}:{10000 + i % 3}"
            price = round(sqft * rng.uniform(300, 500), -2)
            props.append({"property_id": pid, "source_system": "synthetic", "region_id": region, "submarket_id": sub,
                          "property_type": "single_family", "address": f"{i} MAIN ST", "postcode": f"{10000 + i % 3}",
                          "country_code": "US", "currency_code": "USD", "living_sqft": sqft, "bedrooms": 1 + i % 5,
                          "year_built": 1950 + i, "last_transfer_price": price, "last_transfer_date": months[i % 24],
                          "dbt_updated_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
                          "loaded_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)})
            for k in range(1 + i % 3):
                sales.append({"sale_id": f"syn:D{region}{i:04d}{k}", "property_id": pid, "region_id": region,
                              "submarket_id": sub, "source_system": "synthetic", "property_type": "single_family",
                              "currency_code": "USD", "sale_price": price * (1 - 0.05 * k),
                              "price_per_sqft": round(price * (1 - 0.05 * k) / sqft, 2), "living_sqft": sqft,
                              "is_arms_length": True, "is_outlier": False, "sale_date": months[(i + 7 * k) % 24],
                              "sale_month": months[(i + 7 * k) % 24],
                              "file_key": f"recorder/sales/2024/01/{1 + k:02d}/sales_{region}.csv.gz",
                              "dbt_updated_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)})
            estimate = round(price * rng.uniform(0.95, 1.1), 2)
            vals.append({"property_id": pid, "model_name": "terraminer_avm", "model_version": "3", "region_id": region,
                         "submarket_id": sub, "source_system": "synthetic", "property_type": "single_family",
                         "currency_code": "USD", "estimate": estimate, "estimate_lower": round(estimate * 0.87, 2),
                         "estimate_upper": round(estimate * 1.15, 2), "interval_width_pct": 0.28,
                         "living_sqft": sqft, "is_known_property": True, "valuation_date": dt.date(2025, 1, 1),
                         "scored_at": dt.datetime(2025, 1, 2, 3, 4, 5)})
        level = 100.0
        for month in months:
            level *= 1 + rng.uniform(-0.01, 0.02)
            monthly.append({"region_id": region, "activity_month": month, "currency_code": "USD",
                            "sales_count": rng.randrange(10, 50), "transfers_count": 60,
                            "median_sale_price": round(rng.uniform(4e5, 6e5), -2), "terraminer_index_value": level})
            index.append({"index_source": "terraminer", "region_id": region, "index_month": month,
                          "series_id": "TERRAMINER", "index_unit": "index_points", "index_value": level,
                          "index_value_rebased": level, "mom_change_pct": 0.01, "sales_count": 20})
            if region == "R01":
                index.append({"index_source": "fhfa_hpi", "region_id": region, "index_month": month,
                              "series_id": "FHFA-R01", "index_unit": "index_points", "index_value": level * 2,
                              "index_value_rebased": level, "mom_change_pct": 0.011, "sales_count": None})
        for k in range(5):
            alerts.append({"alert_id": f"{region}{k:029d}", "alert_type": ("market_move", "price_cut")[k % 2],
                           "severity": "medium", "region_id": region, "subject_type": "region",
                           "subject_id": f"{region}:{k}", "property_id": None, "message": f"alert {k} in {region}",
                           "metric_value": 0.05, "threshold_value": 0.03, "detected_for_date": months[-1 - k]})
    with conn.transaction():
        for name, table_rows in (("dim_properties", props), ("fct_sales", sales), ("mart_property_valuations", vals),
                                 ("mart_market_monthly", monthly), ("fct_price_index_monthly", index),
                                 ("mart_alerts", alerts)):
            _insert(conn, name, table_rows)
    return {"properties": len(props), "sales": len(sales)}


@pytest.fixture(scope="package")
def api_settings(stack_settings: Settings) -> Iterator[Settings]:
    """A database with the roles, api_meta and seeded marts; settings pointing at it."""
    from terraminer import roles
    from tests.conftest import _create_database, _drop_database

    db = _create_database(stack_settings)
    with db.connect(autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        for table, columns in contract_columns().items():
            body = ", ".join(f"{name} {dtype}" for name, dtype in columns)
            conn.execute(f"create table marts.{table} ({body})")
        roles.apply_postgres(conn)  # after the tables: grants on all tables in marts apply to them
        seed(conn)
    settings = db.settings.model_copy(update={"api_version_ttl_s": 5.0, "api_rate_limit": 10_000})
    try:
        yield settings
    finally:
        _drop_database(db)


def admin(settings: Settings, **kwargs) -> psycopg.Connection:
    return psycopg.connect(**settings.warehouse.conninfo(), autocommit=True, **kwargs)


def as_api(settings: Settings) -> psycopg.Connection:
    return psycopg.connect(**settings.warehouse.conninfo(user=settings.api_pg_user), autocommit=True)


@pytest.fixture(scope="package")
def api_app(api_settings: Settings):
    from fastapi.testclient import TestClient

    from api.main import build_context, create_app

    context = build_context(api_settings)
    context.cache.call(lambda c: c.flushdb())
    app = create_app(api_settings, context)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.ctx = context
        yield client
    context.pool.close()


@pytest.fixture(scope="package")
def keys(api_settings: Settings) -> dict[str, str]:
    from api.security import create_key

    with as_api(api_settings) as conn:
        return {
            "all": create_key(conn, "all", ["markets", "properties", "valuations", "estimates", "alerts"]),
            "read": create_key(conn, "read", ["markets", "properties", "valuations"]),
            "markets": create_key(conn, "markets-only", ["markets"]),
            "props": create_key(conn, "props-only", ["properties"]),
        }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
