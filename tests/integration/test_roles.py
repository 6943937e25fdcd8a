"""Least privilege (docs/ARCHITECTURE.md §9): ``terraminer roles`` is idempotent and every role can do its
job and nothing else, proven by logging in as each role (the embedded server trusts its socket).

Setup, as the admin (``postgres``) on a fresh database: ingest a King County and a recorder file
(raw tables + ingestion_meta exist), run ``terraminer roles`` twice, then create one table per
dbt/ML schema the way dbt and the scorer would (after the grants, so default privileges apply).
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlglot

LOADER, TRANSFORMER, ML, BI = "terraminer_loader", "terraminer_transformer", "terraminer_ml", "terraminer_bi"
API = "terraminer_api"
KC_HEADER = (
    "id,date,price,bedrooms,bathrooms,sqft_living,sqft_lot,floors,waterfront,view,condition,grade,"
    "sqft_above,sqft_basement,yr_built,yr_renovated,zipcode,lat,long,sqft_living15,sqft_lot15\n"
)
KC_ROW = '"{i:010d}","20141013T000000",450000,3,2.25,1800,5000,"1",0,0,3,7,1800,0,1990,0,"98103",47.6,-122.3,1700,5000\n'
REC = "document_number,parcel_id,sale_date,recording_date,sale_price,deed_type,buyer_name,seller_name\n"
REC_ROW = 'D{i:05d},P{i:09d},2024-01-15,2024-01-17,303700,WD,"DOE, JANE","ROE, RICHARD"\n'
DBT_TABLES = {  # created by the admin after `terraminer roles`, like dbt / the scorer would
    "staging": "stg_demo", "intermediate": "int_demo", "marts": "mart_demo", "features": "feat_demo",
    "snapshots": "snap_demo", "reference": "ref_demo", "ml": "ml_demo",
}


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "terraminer.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def _acls(conn) -> list[tuple]:
    return conn.execute(
        "select 'schema', nspname, nspacl::text from pg_namespace where nspname !~ '^pg_' "
        "union all select 'table', relnamespace::regnamespace::text || '.' || relname, relacl::text from pg_class "
        "where relnamespace::regnamespace::text in ('raw', 'ingestion_meta', 'staging', 'intermediate', 'marts', "
        "'features', 'snapshots', 'reference', 'ml', 'public') "
        "union all select 'default', defaclnamespace::regnamespace::text || ':' || defaclobjtype::text, defaclacl::text "
        "from pg_default_acl order by 1, 2, 3"
    ).fetchall()


@pytest.fixture(scope="module")
def granted(module_db, tmp_path_factory):
    root = Path(tmp_path_factory.mktemp("roles-landing"))
    kc = root / "king_county/sales/2024/01/01/a.csv"
    kc.parent.mkdir(parents=True)
    kc.write_text(KC_HEADER + "".join(KC_ROW.format(i=i) for i in range(5)))
    rec = root / "recorder/sales/2024/01/01/sales_20240115.csv.gz"
    rec.parent.mkdir(parents=True)
    rec.write_bytes(gzip.compress((REC + "".join(REC_ROW.format(i=i) for i in range(5))).encode()))
    loaded = _cli(module_db.env(), "ingest", "--landing", str(root), "--quiet")
    assert loaded.returncode == 0, loaded.stderr
    first = _cli(module_db.env(), "roles")
    with module_db.connect() as conn:
        acl_first = _acls(conn)
    second = _cli(module_db.env(), "roles")
    with module_db.connect() as conn:
        acl_second = _acls(conn)
    with module_db.connect(autocommit=True) as conn:
        for schema, table in DBT_TABLES.items():
            conn.execute(f"create table {schema}.{table} (id int, label varchar(32))")
            conn.execute(f"insert into {schema}.{table} values (1, 'one')")
    return {"first": first, "second": second, "acl_first": acl_first, "acl_second": acl_second, "landing": root}


def test_roles_command_is_idempotent(granted):
    first, second = granted["first"], granted["second"]
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "Traceback" not in first.stderr + second.stderr

    def without_created(out: str) -> list[str]:
        return [line for line in out.splitlines() if not line.startswith("created role ")]

    assert without_created(first.stdout) == without_created(second.stdout) == second.stdout.splitlines()
    assert re.fullmatch(r"applied \d+ grants", second.stdout.strip())
    assert set(re.findall(r"created role (\w+)", first.stdout)) <= {LOADER, TRANSFORMER, ML, BI, API}
    assert granted["acl_first"] == granted["acl_second"], "a second run changed privileges"


def _as(db, role: str) -> psycopg.Connection:
    return psycopg.connect(**{**db.conninfo, "user": role}, autocommit=True)


KC_INSERT = (
    "insert into raw.king_county__sales (parcel_id, sale_date, price, _file_key, _file_version, _row_number) "
    "values ('X1', '2024-01-01', 1, 'k', 'v', 2)"
)
LEDGER_INSERT = (
    "insert into ingestion_meta.load_ledger (contract, file_key, file_version, status, started_at, finished_at) "
    "values ('c', 'k', 'v', 'loaded', now(), now())"
)
REJECT_INSERT = (
    "insert into ingestion_meta.rejected_rows (load_id, contract, file_key, file_version, line_number, reason) "
    "values (1, 'c', 'k', 'v', 2, 'test')"
)

# (role, statement, allowed) — every statement runs in a transaction that is rolled back.
MATRIX = [
    # loader: writes raw and ingestion_meta, nothing else
    (LOADER, "select count(*) from raw.king_county__sales", True),
    (LOADER, KC_INSERT, True),
    (LOADER, "delete from raw.king_county__sales where _file_key = 'none'", True),
    (LOADER, "insert into raw.recorder__sales (document_number, parcel_id, sale_date, sale_price, _file_key, "
             "_file_version, _row_number) values ('D1', 'P1', '2024-01-01', 1, 'k', 'v', 2)", True),
    (LOADER, LEDGER_INSERT, True),
    (LOADER, REJECT_INSERT, True),
    (LOADER, "create table raw.new_feed (id int)", True),
    *[(LOADER, f"create table {s}.x (id int)", False) for s in ("staging", "intermediate", "marts", "features", "ml")],
    (LOADER, "insert into marts.mart_demo values (2, 'x')", False),
    (LOADER, "select * from marts.mart_demo", False),
    (LOADER, "select * from features.feat_demo", False),
    (LOADER, "create table public.x (id int)", False),
    # transformer: reads raw and ingestion_meta, owns the dbt layers, reads ml
    (TRANSFORMER, "select count(*) from raw.king_county__sales", True),
    (TRANSFORMER, "select buyer_name from raw.recorder__sales", True),
    (TRANSFORMER, "select count(*) from ingestion_meta.load_ledger", True),
    *[(TRANSFORMER, f"create table {s}.t_new (id int)", True)
      for s in ("staging", "intermediate", "marts", "features", "snapshots", "reference")],
    *[(TRANSFORMER, f"insert into {s}.{t} values (2, 'x')", True)
      for s, t in DBT_TABLES.items() if s != "ml"],
    (TRANSFORMER, "select * from ml.ml_demo", True),
    (TRANSFORMER, KC_INSERT, False),
    (TRANSFORMER, "delete from raw.king_county__sales", False),
    (TRANSFORMER, "create table raw.t (id int)", False),
    (TRANSFORMER, LEDGER_INSERT, False),
    (TRANSFORMER, "insert into ml.ml_demo values (2, 'x')", False),
    # ml: reads features and marts, writes ml
    (ML, "select * from features.feat_demo", True),
    (ML, "select * from marts.mart_demo", True),
    (ML, "create table ml.property_valuations_new (id int)", True),
    (ML, "insert into ml.ml_demo values (2, 'x')", True),
    (ML, "select count(*) from raw.king_county__sales", False),
    (ML, "select buyer_name from raw.recorder__sales", False),
    (ML, "select * from staging.stg_demo", False),
    (ML, "select * from ingestion_meta.load_ledger", False),
    (ML, "insert into features.feat_demo values (2, 'x')", False),
    (ML, "insert into marts.mart_demo values (2, 'x')", False),
    (ML, "create table features.x (id int)", False),
    # bi: reads marts only
    (BI, "select * from marts.mart_demo", True),
    *[(BI, f"select * from {s}.{t}", False) for s, t in DBT_TABLES.items() if s != "marts"],
    (BI, "select count(*) from raw.king_county__sales", False),
    (BI, "select buyer_name, seller_name from raw.recorder__sales", False),
    (BI, "select count(*) from ingestion_meta.load_ledger", False),
    (BI, "select count(*) from ingestion_meta.rejected_rows", False),
    (BI, "insert into marts.mart_demo values (2, 'x')", False),
    (BI, "create table marts.x (id int)", False),
    (BI, "create table public.x (id int)", False),
    # api: reads marts and the load ledger (provenance), writes its own api_meta tables only
    (API, "select * from marts.mart_demo", True),
    (API, "select file_key, file_version from ingestion_meta.load_ledger", True),
    (API, "insert into api_meta.api_keys (key_id, name, key_hash, scopes) values ('k', 'n', 'h', '{markets}')",
     True),
    (API, "insert into api_meta.deliveries (subscription_id, alert_id, attempt, ok) values (1, 'a', 1, true)",
     True),
    *[(API, f"select * from {s}.{t}", False) for s, t in DBT_TABLES.items() if s != "marts"],
    (API, "select count(*) from raw.king_county__sales", False),
    (API, "select count(*) from ingestion_meta.rejected_rows", False),
    (API, "insert into marts.mart_demo values (2, 'x')", False),
    (API, "create table api_meta.x (id int)", False),
    (API, "create table marts.x (id int)", False),
]


@pytest.mark.parametrize(
    ("role", "statement", "allowed"), MATRIX,
    ids=[f"{r.removeprefix('terraminer_')}-{'allow' if a else 'deny'}-{i}" for i, (r, _s, a) in enumerate(MATRIX)],
)
def test_privilege(granted, module_db, role, statement, allowed):
    with _as(module_db, role) as conn:
        with conn.transaction(force_rollback=True):
            if allowed:
                conn.execute(statement)
            else:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)


def test_personal_columns_are_not_readable_outside_loader_and_transformer(granted, module_db):
    with module_db.connect() as conn:
        personal = conn.execute(
            "select c.oid, n.nspname, c.relname, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace where a.attname in ('buyer_name', 'seller_name') "
            "and not a.attisdropped and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'"
        ).fetchall()
        assert {(s, t) for _o, s, t, _a in personal} == {("raw", "recorder__sales")}
        for oid, schema, table, column in personal:
            for role in (BI, ML):
                readable = conn.execute(
                    "select has_column_privilege(%s, %s::oid, %s, 'SELECT') and has_schema_privilege(%s, %s, 'USAGE')",
                    (role, oid, column, role, schema),
                ).fetchone()[0]
                assert not readable, f"{role} can read {schema}.{table}.{column}"


def test_bi_sees_no_personal_column_in_its_catalog(granted, module_db):
    with _as(module_db, BI) as conn:
        visible = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where column_name in ('buyer_name', 'seller_name')"
        ).fetchall()
    assert visible == []


def test_loader_role_can_run_the_ingest(granted, module_db):
    env = {**module_db.env(), "TERRAMINER_PG_USER": LOADER, "PGUSER": LOADER}
    root = granted["landing"]
    kc = root / "king_county/sales/2024/01/02/b.csv"
    kc.parent.mkdir(parents=True, exist_ok=True)
    kc.write_text(KC_HEADER + "".join(KC_ROW.format(i=100 + i) for i in range(3)))
    with module_db.connect(autocommit=True) as conn:  # the admin's ingest built both key indexes
        conn.execute("drop index raw.mls__listing_events__key_idx")
        assert conn.execute("select to_regclass('raw.recorder__sales__key_idx') is not null").fetchone()[0]
    proc = _cli(env, "ingest", "--landing", str(root), "--quiet")
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 0, proc.stderr
    # only the owner may create an index: the loader goes on without it and says what to do
    assert "raw.mls__listing_events has no key index" in proc.stderr and "raw.recorder__sales" not in proc.stderr


def test_transformer_can_read_a_raw_table_the_loader_created(granted, module_db):
    with _as(module_db, LOADER) as conn:
        conn.execute("create table raw.loader_made (id int)")
        conn.execute("insert into raw.loader_made values (1)")
    with _as(module_db, TRANSFORMER) as conn:
        assert conn.execute("select count(*) from raw.loader_made").fetchone()[0] == 1


# ------------------------------------------------------------------ Redshift script
REDSHIFT_FORMS = [  # the statement forms of the Redshift SQL reference the script may use
    r'create role "\w+"',
    r'grant role "\w+" to role "\w+"',
    r'create schema if not exists "\w+"',
    r'grant (usage|usage, create) on schema "\w+" to role "\w+"',
    r'grant (select|all|select, insert, update, delete) on all tables in schema "\w+" to role "\w+"',
    r'alter default privileges for user "\w+" in schema "\w+" grant (select|all|select, insert, update, delete) '
    r'on tables to role "\w+"',
]


def _redshift_statements() -> list[str]:
    proc = subprocess.run([sys.executable, "-m", "terraminer.cli", "roles", "--redshift"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    body = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def test_redshift_sql_parses_statement_by_statement():
    statements = _redshift_statements()
    assert len(statements) > 20
    for statement in statements:
        parsed = sqlglot.parse(statement + ";", read="redshift")
        assert len([p for p in parsed if p is not None]) == 1, statement
        assert any(re.fullmatch(form, statement) for form in REDSHIFT_FORMS), f"not a Redshift form: {statement}"
        assert "sequence" not in statement  # Redshift has no sequences


def test_redshift_sql_grants_bi_marts_only():
    bi = [s for s in _redshift_statements() if BI in s and not s.startswith(("create role", "grant role"))]
    assert bi, "terraminer_bi gets no grant at all"
    for statement in bi:
        schemas = re.findall(r'schema "(\w+)"', statement)
        assert schemas == ["marts"], statement
    assert not [s for s in _redshift_statements() if 'schema "raw"' in s and BI in s]
