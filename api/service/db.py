"""The warehouse pool (as ``terraminer_api``, with a statement timeout) and row → JSON helpers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.settings import Settings


def make_pool(settings: Settings, user: str | None = None, open_wait: bool = False) -> ConnectionPool:
    info = settings.warehouse.conninfo(user=user or settings.api_pg_user)
    info["options"] = f"-c statement_timeout={settings.api_statement_timeout_ms} -c application_name=terraminer-api"
    pool = ConnectionPool(kwargs={**info, "autocommit": True}, min_size=1, max_size=settings.api_pool_size,
                          timeout=30.0, open=False, name="terraminer-api")
    pool.open(wait=open_wait)
    return pool


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def rows(conn: psycopg.Connection, query: str, params: Any = None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return [{k: jsonable(v) for k, v in row.items()} for row in cur.fetchall()]


def one(conn: psycopg.Connection, query: str, params: Any = None) -> dict | None:
    found = rows(conn, query, params)
    return found[0] if found else None
