"""Redshift DDL: the ledger tables, raw tables, and adding new contract columns."""

from __future__ import annotations

from collections.abc import Mapping

from ingestion.contract import Column, Contract
from ingestion.writers.base import META_SCHEMA, RAW_SCHEMA
from ingestion.writers.redshift.sql import (
    VARCHAR_MAX,
    RedshiftPlanError,
    Statement,
    ledger_table,
    qualified,
    quote_ident,
)
from ingestion.writers.redshift.sql import cols as _cols
from ingestion.writers.redshift.sql import stmt as _stmt
from ingestion.writers.text import normal_type


def meta_ddl() -> list[Statement]:
    """``raw`` and ``ingestion_meta`` schemas, the ledger and the rejected rows, for Redshift.

    Same columns as ``ingestion.writers.postgres.META_DDL``; ``load_id`` is an IDENTITY; text is ``varchar(65535)``; the
    status check and the unique key are kept by the writer (Redshift does not enforce them).
    """
    text = f"VARCHAR({VARCHAR_MAX})"
    return [
        _stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(RAW_SCHEMA)}"),
        _stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(META_SCHEMA)}"),
        _stmt(
            f"CREATE TABLE IF NOT EXISTS {ledger_table('load_ledger')} ("
            '"load_id" BIGINT IDENTITY(1, 1), "contract" VARCHAR(128) NOT NULL, '
            '"file_key" VARCHAR(1024) NOT NULL, "file_version" VARCHAR(128) NOT NULL, "file_size" BIGINT, '
            '"status" VARCHAR(16) NOT NULL, "rows_read" BIGINT NOT NULL DEFAULT 0, '
            '"rows_loaded" BIGINT NOT NULL DEFAULT 0, "rows_rejected" BIGINT NOT NULL DEFAULT 0, '
            f'"error" {text}, "contract_fingerprint" VARCHAR(32), "started_at" TIMESTAMPTZ NOT NULL, '
            '"finished_at" TIMESTAMPTZ NOT NULL, "seconds" NUMERIC(12, 3), "superseded_at" TIMESTAMPTZ, '
            'PRIMARY KEY ("load_id"), UNIQUE ("contract", "file_key", "file_version")'
            ') DISTSTYLE AUTO SORTKEY ("contract", "file_key")'
        ),
        _stmt(
            f"CREATE TABLE IF NOT EXISTS {ledger_table('rejected_rows')} ("
            '"load_id" BIGINT NOT NULL, "contract" VARCHAR(128) NOT NULL, "file_key" VARCHAR(1024) NOT NULL, '
            '"file_version" VARCHAR(128) NOT NULL, "line_number" BIGINT NOT NULL, "column_name" VARCHAR(128), '
            f'"reason" {text} NOT NULL, "value" {text}, "raw_text" {text}, '
            '"rejected_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE()'
            ') DISTSTYLE AUTO SORTKEY ("load_id")'
        ),
    ]


def column_ddl(col: Column, *, not_null: bool = True) -> str:
    return f"{quote_ident(col.name)} {col.redshift_type}" + (" NOT NULL" if not_null and not col.nullable else "")


def create_table_sql(contract: Contract, table: str) -> Statement:
    """A raw table (or the ``__changes`` table of a merge contract): contract columns + load metadata.

    Sort key: the contract key for the merge tables (recomputed by key), ``_loaded_at`` otherwise.
    """
    if table not in (contract.raw_table, contract.changes_table):
        raise RedshiftPlanError(f"{table} is not a table of contract {contract.name}")
    cols = [column_ddl(c) for c in contract.columns]
    cols += [
        '"_file_key" VARCHAR(1024) NOT NULL',
        '"_file_version" VARCHAR(128) NOT NULL',
        '"_row_number" BIGINT NOT NULL',
        '"_loaded_at" TIMESTAMP NOT NULL',
    ]
    sort = contract.key if contract.load.mode == "merge" else ["_loaded_at"]
    return _stmt(
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, table)} ({', '.join(cols)}) "
        f"DISTSTYLE AUTO COMPOUND SORTKEY ({_cols(sort)})"
    )


def raw_tables_ddl(contract: Contract) -> list[Statement]:
    """``raw.<contract>`` (and ``raw.<contract>__changes`` for merge contracts)."""
    tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
    return [_stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(RAW_SCHEMA)}")] + [
        create_table_sql(contract, t) for t in tables
    ]


def existing_columns_query(table: str) -> Statement:
    """Columns of ``raw.<table>`` with their formatted types (leader-node catalog query)."""
    return _stmt(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
        "INNER JOIN pg_class AS c ON c.oid = a.attrelid INNER JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        RAW_SCHEMA, table,
    )


def evolve_table_sql(contract: Contract, table: str, existing: Mapping[str, str]) -> list[Statement]:
    """``ALTER TABLE … ADD COLUMN`` for contract columns the table lacks; a changed type is an error
    (migrate the column or revert the contract), as on PostgreSQL."""
    statements = []
    for col in contract.columns:
        have = existing.get(col.name)
        if have is None:
            statements.append(
                _stmt(f"ALTER TABLE {qualified(RAW_SCHEMA, table)} ADD COLUMN {column_ddl(col, not_null=False)}")
            )
        elif normal_type(have) != normal_type(col.redshift_type):
            raise RedshiftPlanError(
                f"raw.{table}.{col.name} is {have} but the contract says {col.type} ({col.redshift_type} on "
                "Redshift): migrate the column or revert the contract"
            )
    return statements

