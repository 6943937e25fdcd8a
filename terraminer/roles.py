"""Least-privilege roles (ARCHITECTURE §9), created by one idempotent command: ``terraminer roles``.

| role                    | may                                                                 |
|-------------------------|---------------------------------------------------------------------|
| terraminer_loader       | write raw.* and ingestion_meta.*                                    |
| terraminer_transformer  | read raw and ingestion_meta; own the dbt schemas                    |
| terraminer_ml           | read features (and marts); write ml.*                               |
| terraminer_bi           | read marts only (never raw, staging or personal columns)           |

Roles are created with LOGIN and no password: locally the embedded server trusts
its unix socket; in production set passwords or IAM auth outside this repository.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

LOADER, TRANSFORMER, ML, BI = "terraminer_loader", "terraminer_transformer", "terraminer_ml", "terraminer_bi"
ROLES = (LOADER, TRANSFORMER, ML, BI)
LOAD_SCHEMAS = ("raw", "ingestion_meta")
DBT_SCHEMAS = ("reference", "staging", "intermediate", "snapshots", "marts", "features")
ML_SCHEMA = "ml"


@dataclass(frozen=True)
class Grant:
    """One privilege statement, rendered for PostgreSQL or Redshift."""

    text: str
    args: tuple[str, ...]

    def compose(self) -> sql.Composed:
        return sql.SQL(self.text).format(*map(sql.Identifier, self.args))


def _grants(owner: str) -> list[Grant]:
    g: list[Grant] = []
    schemas = (*LOAD_SCHEMAS, *DBT_SCHEMAS, ML_SCHEMA)
    for schema in schemas:
        g.append(Grant("create schema if not exists {}", (schema,)))
    # loader: raw + ingestion_meta, read and write
    for schema in LOAD_SCHEMAS:
        g += [
            Grant("grant usage, create on schema {} to {}", (schema, LOADER)),
            Grant("grant select, insert, update, delete on all tables in schema {} to {}", (schema, LOADER)),
            Grant("grant usage, select, update on all sequences in schema {} to {}", (schema, LOADER)),
            Grant(
                "alter default privileges for role {} in schema {} grant select, insert, update, delete on tables to {}",
                (owner, schema, LOADER),
            ),
            Grant(
                "alter default privileges for role {} in schema {} grant usage, select, update on sequences to {}",
                (owner, schema, LOADER),
            ),
            # transformer reads what the loader lands
            Grant("grant usage on schema {} to {}", (schema, TRANSFORMER)),
            Grant("grant select on all tables in schema {} to {}", (schema, TRANSFORMER)),
            Grant("alter default privileges for role {} in schema {} grant select on tables to {}", (owner, schema, TRANSFORMER)),
        ]
    # transformer: owns the dbt layers
    for schema in DBT_SCHEMAS:
        g += [
            Grant("grant usage, create on schema {} to {}", (schema, TRANSFORMER)),
            Grant("grant all on all tables in schema {} to {}", (schema, TRANSFORMER)),
            Grant("alter default privileges for role {} in schema {} grant all on tables to {}", (owner, schema, TRANSFORMER)),
        ]
    # ml: reads features and marts, writes ml
    for schema in ("features", "marts"):
        g += [
            Grant("grant usage on schema {} to {}", (schema, ML)),
            Grant("grant select on all tables in schema {} to {}", (schema, ML)),
            Grant("alter default privileges for role {} in schema {} grant select on tables to {}", (owner, schema, ML)),
        ]
    g += [
        Grant("grant usage, create on schema {} to {}", (ML_SCHEMA, ML)),
        Grant("grant all on all tables in schema {} to {}", (ML_SCHEMA, ML)),
        Grant("alter default privileges for role {} in schema {} grant all on tables to {}", (owner, ML_SCHEMA, ML)),
        Grant("grant usage on schema {} to {}", (ML_SCHEMA, TRANSFORMER)),
        Grant("grant select on all tables in schema {} to {}", (ML_SCHEMA, TRANSFORMER)),
        Grant("alter default privileges for role {} in schema {} grant select on tables to {}", (owner, ML_SCHEMA, TRANSFORMER)),
    ]
    # bi: marts only
    g += [
        Grant("grant usage on schema {} to {}", ("marts", BI)),
        Grant("grant select on all tables in schema {} to {}", ("marts", BI)),
        Grant("alter default privileges for role {} in schema {} grant select on tables to {}", (owner, "marts", BI)),
    ]
    return g


def apply_postgres(conn: psycopg.Connection) -> list[str]:
    """Create the roles if missing and (re)apply every grant. Idempotent; returns what it did."""
    done = []
    owner = conn.execute("select current_user").fetchone()[0]
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('terraminer:roles', 0))")
        for role in ROLES:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
                done.append(f"created role {role}")
        # nobody but the owner may create objects in public
        conn.execute("revoke create on schema public from public")
        for grant in _grants(owner):
            conn.execute(grant.compose())
        done.append(f"applied {len(_grants(owner))} grants")
    return done


def redshift_sql(owner: str = "terraminer_admin") -> str:
    """The same model for Redshift (roles + grants), as a reviewable SQL script."""
    lines = [
        "-- TerraMiner least-privilege roles for Amazon Redshift (generated by `terraminer roles --redshift`).",
        "-- Run once as a superuser; CREATE ROLE fails harmlessly if a role already exists.",
    ]
    for role in ROLES:
        lines.append(f'create role "{role}";')
    for grant in _grants(owner):
        text = grant.text.replace("{}", '"{}"').format(*grant.args)
        text = text.replace("usage, select, update on all sequences", "usage on all sequences")
        if "sequences" in text:
            continue  # Redshift has no sequences (identity columns need no grant)
        text = text.replace(" for role ", " for user ").replace(' to "', ' to role "')
        lines.append(text + ";")
    return "\n".join(lines) + "\n"
