"""Least-privilege roles (docs/ARCHITECTURE.md §9), created by one idempotent command: ``terraminer roles``.

| role                    | may                                                                 |
|-------------------------|---------------------------------------------------------------------|
| terraminer_loader       | write raw.* and ingestion_meta.*                                    |
| terraminer_transformer  | read raw and ingestion_meta; own the dbt schemas                    |
| terraminer_ml           | read features (and marts); write ml.*                               |
| terraminer_bi           | read marts only (never raw, staging or personal columns)           |
| terraminer_api          | bi's reads (a member of bi) and the load ledger; write api_meta.*   |

The admin creates every schema (creating a schema needs CREATE on the database, which no pipeline
role has) and grants each role CREATE on the schemas it writes. Default privileges cover the
tables the admin creates *and* those each schema's writer creates (``CREATORS``: the loader's raw
tables are readable by the transformer, dbt's marts by ml and bi, the scorer's ml tables by the
transformer).

Roles are created with LOGIN and no password: locally the embedded server trusts
its unix socket; in production set passwords or IAM auth outside this repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

from core.errors import TerraMinerError

LOADER, TRANSFORMER, ML, BI = "terraminer_loader", "terraminer_transformer", "terraminer_ml", "terraminer_bi"
API = "terraminer_api"
ROLES = (LOADER, TRANSFORMER, ML, BI, API)
LOAD_SCHEMAS = ("raw", "ingestion_meta")
DBT_SCHEMAS = ("reference", "staging", "intermediate", "snapshots", "marts", "features")
ML_SCHEMA = "ml"
API_SCHEMA = "api_meta"

# The data-access API's own tables (api/): created by the admin, written only by terraminer_api.
API_META_DDL = """
create table if not exists api_meta.api_keys (
    key_id varchar(16) primary key,
    name varchar(64) not null,
    key_hash varchar(64) not null,
    scopes text[] not null,
    rate_limit integer,
    rate_window_s integer,
    created_at timestamptz not null default now(),
    expires_at timestamptz,
    revoked_at timestamptz
);
create unique index if not exists api_keys_active_name on api_meta.api_keys (name) where revoked_at is null;
create table if not exists api_meta.subscriptions (
    subscription_id bigint generated always as identity primary key,
    key_id varchar(16) not null,
    url varchar(2048) not null,
    secret varchar(128) not null,
    region_ids text[],
    alert_types text[],
    active boolean not null default true,
    created_at timestamptz not null default now()
);
create table if not exists api_meta.deliveries (
    delivery_id bigint generated always as identity primary key,
    subscription_id bigint not null,
    alert_id varchar(32) not null,
    attempt integer not null,
    ok boolean not null,
    status_code integer,
    error text,
    seconds numeric(10, 3),
    attempted_at timestamptz not null default now()
);
create unique index if not exists deliveries_once on api_meta.deliveries (subscription_id, alert_id) where ok;
create table if not exists api_meta.data_version (
    singleton boolean primary key default true check (singleton),
    version varchar(64) not null,
    detail jsonb,
    bumped_at timestamptz not null default now()
);
"""


# Who creates the tables of each schema in normal operation (besides the admin who runs
# ``terraminer roles``): the loader creates a raw table for every new contract (and the ledger on a
# fresh database), dbt runs as the transformer, the scorer as ml.
CREATORS = {"raw": LOADER, "ingestion_meta": LOADER, **{s: TRANSFORMER for s in DBT_SCHEMAS}, ML_SCHEMA: ML,
            API_SCHEMA: API}


@dataclass(frozen=True)
class Grant:
    """One privilege statement, rendered for PostgreSQL or Redshift. ``creator`` names the argument
    that is a pipeline role whose *future* tables the statement is about (``alter default
    privileges for role <creator>``): Redshift needs a user there (see :func:`redshift_sql`)."""

    text: str
    args: tuple[str, ...]
    creator: str | None = None

    def compose(self) -> sql.Composed:
        return sql.SQL(self.text).format(*map(sql.Identifier, self.args))


def _default(owner: str, schema: str, privileges: str, grantee: str) -> list[Grant]:
    """``privileges`` on the future tables of ``schema`` for ``grantee``: those the admin creates
    and those the schema's creator role creates (a creator owns its own tables already)."""
    text = "alter default privileges for role {} in schema {} grant " + privileges + " on tables to {}"
    grants = [Grant(text, (owner, schema, grantee))]
    creator = CREATORS[schema]
    if creator not in (owner, grantee):
        grants.append(Grant(text, (creator, schema, grantee), creator=creator))
    return grants


def _grants(owner: str) -> list[Grant]:
    g: list[Grant] = []
    schemas = (*LOAD_SCHEMAS, *DBT_SCHEMAS, ML_SCHEMA, API_SCHEMA)
    # the schemas exist before any pipeline role runs: creating a schema needs CREATE on the
    # database, which no pipeline role has (the loader only creates tables in its schemas)
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
            *_default(owner, schema, "select", TRANSFORMER),
        ]
    # transformer: owns the dbt layers
    for schema in DBT_SCHEMAS:
        g += [
            Grant("grant usage, create on schema {} to {}", (schema, TRANSFORMER)),
            Grant("grant all on all tables in schema {} to {}", (schema, TRANSFORMER)),
            *_default(owner, schema, "all", TRANSFORMER),
        ]
    # ml: reads features and marts, writes ml
    for schema in ("features", "marts"):
        g += [
            Grant("grant usage on schema {} to {}", (schema, ML)),
            Grant("grant select on all tables in schema {} to {}", (schema, ML)),
            *_default(owner, schema, "select", ML),
        ]
    g += [
        Grant("grant usage, create on schema {} to {}", (ML_SCHEMA, ML)),
        Grant("grant all on all tables in schema {} to {}", (ML_SCHEMA, ML)),
        *_default(owner, ML_SCHEMA, "all", ML),
        Grant("grant usage on schema {} to {}", (ML_SCHEMA, TRANSFORMER)),
        Grant("grant select on all tables in schema {} to {}", (ML_SCHEMA, TRANSFORMER)),
        *_default(owner, ML_SCHEMA, "select", TRANSFORMER),
    ]
    # bi: marts only
    g += [
        Grant("grant usage on schema {} to {}", ("marts", BI)),
        Grant("grant select on all tables in schema {} to {}", ("marts", BI)),
        *_default(owner, "marts", "select", BI),
    ]
    # api: reads marts as a member of bi (dbt's `grants` config keeps bi's select on every mart,
    # and revokes other roles' on incremental rebuilds), writes its own api_meta tables
    g += [
        Grant("grant {} to {}", (BI, API)),
        Grant("grant usage on schema {} to {}", (API_SCHEMA, API)),
        Grant("grant select, insert, update, delete on all tables in schema {} to {}", (API_SCHEMA, API)),
        Grant("grant usage, select on all sequences in schema {} to {}", (API_SCHEMA, API)),
    ]
    return g


def apply_postgres(conn: psycopg.Connection) -> list[str]:
    """Create the roles if missing and (re)apply every grant. Idempotent; returns what it did."""
    done = []
    owner = conn.execute("select current_user").fetchone()[0]
    grants = _grants(owner)
    try:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtextextended('terraminer:roles', 0))")
            for role in ROLES:
                exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
                    done.append(f"created role {role}")
            # nobody but the owner may create objects in public
            conn.execute("revoke create on schema public from public")
            for grant in grants:
                conn.execute(grant.compose())
            conn.execute(API_META_DDL)
            for grant in grants:
                if grant.args[:1] == (API_SCHEMA,) and " on all " in grant.text:
                    conn.execute(grant.compose())  # again, now that the tables exist
            # provenance: the API reads the load ledger (file keys and versions; no row data)
            if conn.execute("select to_regclass('ingestion_meta.load_ledger')").fetchone()[0] is not None:
                conn.execute(sql.SQL("grant usage on schema ingestion_meta to {}").format(sql.Identifier(API)))
                conn.execute(sql.SQL("grant select on ingestion_meta.load_ledger to {}").format(sql.Identifier(API)))
    except psycopg.errors.InsufficientPrivilege as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TerraMinerError(
            f"`terraminer roles` needs the warehouse admin (a superuser, or a role with CREATEROLE that owns the "
            f"schemas and is a member of the terraminer_* roles); {owner!r} is not allowed: {first}"
        ) from None
    done.append(f"applied {len(grants)} grants")
    return done


def redshift_sql(owner: str = "terraminer_admin", creators: Mapping[str, str] | None = None) -> str:
    """The same model for Redshift (roles + grants), as a reviewable SQL script.

    Redshift sets default privileges ``for user`` only, never for a role: ``creators`` maps a
    pipeline role to the Redshift user that runs it (e.g. ``{"terraminer_loader": "svc_loader"}``)
    so the tables that user creates get the same grants as the admin's. Roles without a user are
    left out: there the owner user runs that part of the pipeline (one ``REDSHIFT_USER``)."""
    creators = dict(creators or {})
    lines = [
        "-- TerraMiner least-privilege roles for Amazon Redshift (generated by `terraminer roles --redshift`).",
        "-- Run once as a superuser; CREATE ROLE fails harmlessly if a role already exists.",
        f'-- Default privileges cover tables created by the user "{owner}"'
        + (f" and by {', '.join(repr(u) for u in creators.values())}." if creators else
           " (the pipeline's REDSHIFT_USER); if another user creates tables, add its default privileges."),
    ]
    for role in ROLES:
        lines.append(f'create role "{role}";')
    for grant in _grants(owner):
        args = grant.args
        if grant.creator is not None:
            user = creators.get(grant.creator)
            if user is None:
                continue
            args = tuple(user if a == grant.creator else a for a in args)
        if grant.text == "grant {} to {}":  # role membership
            lines.append(f'grant role "{args[0]}" to role "{args[1]}";')
            continue
        text = grant.text.replace("{}", '"{}"').format(*args)
        text = text.replace("usage, select, update on all sequences", "usage on all sequences")
        if "sequences" in text:
            continue  # Redshift has no sequences (identity columns need no grant)
        text = text.replace(" for role ", " for user ").replace(' to "', ' to role "')
        lines.append(text + ";")
    return "\n".join(lines) + "\n"
