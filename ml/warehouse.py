"""Warehouse tables the ML package owns (``ml.*``), read back by dbt as sources."""

from __future__ import annotations

import psycopg

PROPERTY_VALUATIONS_DDL = """
create table if not exists ml.property_valuations (
    property_id varchar(64) not null,
    valuation_date date not null,
    estimate numeric(14, 2) not null,
    lower numeric(14, 2) not null,
    upper numeric(14, 2) not null,
    model_name varchar(64) not null,
    model_version varchar(32) not null,
    scored_at timestamptz not null default now(),
    primary key (property_id, valuation_date, model_version)
);
"""


def ensure_ml_tables(conn: psycopg.Connection) -> None:
    """Create ``ml.property_valuations`` if missing (idempotent), so dbt sources always resolve."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('terraminer:ml-ddl', 0))")
        # the admin creates the schema (`terraminer roles`); terraminer_ml may not create schemas
        if conn.execute("select to_regnamespace('ml')").fetchone()[0] is None:
            conn.execute("create schema ml")
        conn.execute(PROPERTY_VALUATIONS_DDL)
