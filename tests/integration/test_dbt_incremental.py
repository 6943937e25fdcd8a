"""Incremental dbt builds leave exactly what a full rebuild would, touch only what changed, and
their scoped tests still catch a bad new row.

One warehouse lives through three deliveries: a first window of synthetic feeds (with late,
duplicated and erroneous-then-corrected files) plus the real feeds and the first UK change files;
then more days (crossing the annual assessor roll, with corrected re-deliveries of earlier files)
and the remaining UK change files (changes and deletes); then one quiet day. After each build,
every incremental model is compared with its own full-refresh SQL run on the same inputs
(terraminer.incremental_check).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from psycopg import sql

from core.dbt import dbt_executable
from core.settings import project_dir
from ingestion.contract import load_contracts
from ingestion.landing import open_landing
from ingestion.real_feeds import real_files
from ingestion.runner import ingest
from ingestion.synthetic import generate
from ingestion.synthetic.generator import Defects
from terraminer.incremental_check import check
from tests.conftest import SHARED_DATA, shared_data

XDIST_WEIGHT = 270  # seconds on 2 cores: conftest starts heavy files first
DEFECTS = Defects(duplicate_rate=0.05, late_rate=0.2, redelivery_rate=0.3)
SCALE = 2
UK_FIRST_BATCH = 8  # monthly change files in the first delivery; the rest come later


class Warehouse:
    def __init__(self, db, tmp: Path):
        self.db = db
        self.landing_dir = tmp / "landing"
        self.landing = open_landing(str(self.landing_dir))
        self.target = tmp / "target"
        self.env = db.env()
        self.env.update(db.settings.dbt_env())
        self.env.update(DBT_TARGET="ci", DBT_TARGET_PATH=str(self.target), DBT_LOG_PATH=str(tmp / "dbt-logs"),
                        DBT_PROFILES_DIR=str(project_dir()), DBT_SEND_ANONYMOUS_USAGE_STATS="false")

    def ingest(self):
        with self.db.connect() as conn:
            _, report = ingest(conn, load_contracts(), self.landing)
        assert report.refused == [], [r.error for r in report.refused]
        return report

    def dbt(self, *args: str, check_ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([dbt_executable(), *args], cwd=project_dir(), env=self.env,
                                capture_output=True, text=True)
        if check_ok:
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result

    def results(self) -> dict[str, dict]:
        run = json.loads((self.target / "run_results.json").read_text())
        return {r["unique_id"].split(".")[-1] if r["unique_id"].startswith("model.") else r["unique_id"]: r
                for r in run["results"]}

    def rows_inserted(self, model: str) -> int:
        return int((self.results()[model].get("adapter_response") or {}).get("rows_affected", -1))

    def equivalent(self):
        outcome = check(self.db.settings, env=self.env)
        bad = [r.line() for r in outcome if not r.ok]
        assert bad == [], "\n".join(bad)
        return outcome


def _stage_uk(landing, months: slice) -> None:
    if not (SHARED_DATA / "README.md").exists():
        return
    files = sorted(real_files(SHARED_DATA, ["uk_land_registry"]), key=lambda f: f.key)[months]
    for item in files:
        with open(item.source, "rb") as src, landing.writer(item.key) as dst:
            shutil.copyfileobj(src, dst)


@pytest.fixture(scope="module")
def warehouse(module_db, tmp_path_factory):
    # The scenarios redeliver King County files and replay UK change files, and the two-month
    # synthetic window alone is too short for a computed price index: they need ../shared/data.
    shared_data()
    tmp = tmp_path_factory.mktemp("incremental")
    wh = Warehouse(module_db, tmp)
    from ml.warehouse import ensure_ml_tables
    from terraminer import roles

    with module_db.connect() as conn:
        roles.apply_postgres(conn)
        ensure_ml_tables(conn)
    generate(wh.landing, scale=SCALE, seed=11, start=dt.date(2023, 11, 1), days=59, defects=DEFECTS)
    if (SHARED_DATA / "README.md").exists():
        for item in real_files(SHARED_DATA, ["king_county", "case_shiller"]):  # NYC and ZHVI: size, no new logic
            with open(item.source, "rb") as src, wh.landing.writer(item.key) as dst:
                shutil.copyfileobj(src, dst)
    _stage_uk(wh.landing, slice(0, UK_FIRST_BATCH))
    wh.ingest()
    wh.dbt("seed", "--quiet")
    wh.dbt("build", "--quiet")
    return wh


def test_first_build_is_a_full_build(warehouse):
    results = warehouse.results()
    assert warehouse.rows_inserted("int_parcels_versioned") > 0
    bad = {uid: r["status"] for uid, r in results.items() if r["status"] not in ("success", "pass", "warn", "no-op")}
    assert bad == {}
    # nothing was scoped: no test had passed before
    compiled = (warehouse.target / "compiled").rglob("not_null_stg_recorder__sales_sale_date.sql")
    assert "loaded_at" not in next(compiled).read_text()


def test_a_second_delivery_builds_incrementally_and_equals_a_full_rebuild(warehouse):
    # eight more days across New Year (the 2024 assessor roll lands on Jan 2, a snapshot at the
    # call's start), corrected re-deliveries of erroneous earlier files, late files; the rest of
    # the UK change feed (changes and deletes)
    generate(warehouse.landing, scale=SCALE, seed=11, start=dt.date(2023, 12, 30), days=8, defects=DEFECTS)
    _stage_uk(warehouse.landing, slice(UK_FIRST_BATCH, None))
    report = warehouse.ingest()
    assert any(r.replaced for r in report.results), "the scenario should re-deliver a corrected file"
    warehouse.dbt("build", "--quiet")
    outcome = warehouse.equivalent()
    assert {r.model for r in outcome} >= {"fct_sales", "feat_avm_sales", "int_properties_unioned", "fct_listings"}
    assert warehouse.rows_inserted("int_parcels_versioned") > 0  # the new roll's regions were rebuilt


def test_a_quiet_day_touches_only_what_changed(warehouse):
    before = warehouse.db.scalar("select count(*) from marts.fct_sales")
    generate(warehouse.landing, scale=SCALE, seed=11, start=dt.date(2024, 1, 8), days=6)  # a few sales
    assessor = [k for k in warehouse.landing_dir.rglob("parcels_20240108.csv")]
    for path in assessor:  # a generate call's start snapshot is not a daily delivery
        path.unlink()
    warehouse.ingest()
    warehouse.dbt("build", "--quiet")
    added = warehouse.db.scalar("select count(*) from marts.fct_sales") - before
    assert added > 0
    # no assessor delivery: the parcel and assessment tables are not touched at all
    assert warehouse.rows_inserted("int_parcels_versioned") == 0
    assert warehouse.rows_inserted("fct_assessments") == 0
    # the sales path reads the new rows (fct_sales adds its lookback window), not the history
    total = warehouse.db.scalar("select count(*) from marts.fct_sales")
    assert added <= warehouse.rows_inserted("int_sales_classified") < total / 2
    assert warehouse.rows_inserted("feat_avm_sales") < warehouse.db.scalar("select count(*) from features.feat_avm_sales") / 2
    warehouse.equivalent()
    # tests of relations with nothing new read nothing
    compiled = next((warehouse.target / "compiled").rglob("not_null_stg_assessor__parcels_address.sql")).read_text()
    assert "1 = 0" in compiled
    compiled = next((warehouse.target / "compiled").rglob("not_null_stg_recorder__sales_sale_date.sql")).read_text()
    assert '"loaded_at" >' in compiled
    # ... and a test whose inputs did not change passes without a query (the project's test
    # materialization, macros/test_scope/test_materialization.sql); the others run theirs
    tests = {uid.split(".")[2]: r for uid, r in warehouse.results().items() if uid.startswith("test.")}
    message = {name: (r.get("adapter_response") or {}).get("_message", "") for name, r in tests.items()}
    assert tests["not_null_stg_assessor__parcels_address"]["status"] == "pass"
    assert message["not_null_stg_assessor__parcels_address"].startswith("PASS: no input changed")
    assert message["not_null_stg_recorder__sales_sale_date"] == "SELECT 1"



LANDING_DAY = "substring(file_key from '/([0-9]{4}/[0-9]{2}/[0-9]{2})/')"


def test_a_re_run_of_one_landing_day_replaces_exactly_that_days_derived_rows(warehouse):
    """The re-run of one past day (what a partitioned Dagster run passes to dbt: vars
    reprocess_landing_from / _to, orchestration/assets/dbt.py): the sales of the files landed that
    day are derived again from the raw rows (a damaged row is repaired, a lost row comes back),
    while the rows of every other day stay exactly as they were, even damaged ones."""
    db = warehouse.db
    day = db.scalar(f"select {LANDING_DAY} from marts.fct_sales where file_key like 'recorder/sales/2023/11/%%' "
                    f"group by 1 having count(*) >= 3 order by 1 desc limit 1")
    assert day, "the scenario lands synthetic sales every day of November 2023"
    columns = [r[0] for r in db.rows(
        "select column_name from information_schema.columns where table_schema = 'marts' "
        "and table_name = 'fct_sales' and column_name <> 'dbt_updated_at' order by ordinal_position")]
    listed = ", ".join(f'"{c}"' for c in columns)

    def snapshot() -> list[tuple]:
        return db.rows(f"select {listed} from marts.fct_sales order by sale_id")

    before = snapshot()
    lost, damaged = (r[0] for r in db.rows(
        f"select sale_id from marts.fct_sales where {LANDING_DAY} = %s order by sale_id limit 2", (day,)))
    elsewhere = db.scalar(f"select sale_id from marts.fct_sales where file_key like 'recorder/%%' "
                          f"and {LANDING_DAY} < %s order by sale_id limit 1", (day,))
    with db.connect() as conn:
        conn.execute("update marts.fct_sales set sale_price = sale_price + 1 where sale_id in (%s, %s)",
                     (damaged, elsewhere))
        conn.execute("delete from marts.fct_sales where sale_id = %s", (lost,))
    stamps = dict(db.rows("select sale_id, dbt_updated_at from marts.fct_sales"))

    iso = day.replace("/", "-")
    warehouse.dbt("build", "--quiet", "--vars", json.dumps({"reprocess_landing_from": iso, "reprocess_landing_to": iso}))

    after = snapshot()
    price = columns.index("sale_price")
    expected = [row[:price] + (row[price] + 1,) + row[price + 1:] if row[0] == elsewhere else row for row in before]
    assert after == expected  # that day's rows as derived before; the other day's damage left alone
    day_rows = {r[0]: r[1] for r in db.rows(
        f"select sale_id, dbt_updated_at from marts.fct_sales where {LANDING_DAY} = %s", (day,))}
    assert lost in day_rows and all(stamp != stamps.get(sale) for sale, stamp in day_rows.items())
    assert db.scalar("select dbt_updated_at from marts.fct_sales where sale_id = %s", (elsewhere,)) == stamps[elsewhere]

    with db.connect() as conn:  # undo the other day's damage: the build equals a full rebuild again
        conn.execute("update marts.fct_sales set sale_price = sale_price - 1 where sale_id = %s", (elsewhere,))
    warehouse.equivalent()

def test_a_large_delivery_rebuilds_instead_of_merging(warehouse):
    """A delivery that is a large share of a model's input rebuilds the model rather than merging
    it (macros/incremental/rebuild_large_batch.sql; a backfill, a new market): the share is set
    here to one in a million so that two more days of synthetic sales count as large. The sales path is
    rebuilt whole and equals the full-refresh SQL; the assessor path, with no new input, stays
    incremental and untouched; the tests of the rebuilt path read everything, unscoped."""
    generate(warehouse.landing, scale=SCALE, seed=11, start=dt.date(2024, 1, 14), days=2)
    for path in warehouse.landing_dir.rglob("parcels_20240114.csv"):  # no assessor delivery
        path.unlink()
    warehouse.ingest()
    result = warehouse.dbt("build", "--vars", json.dumps({"incremental_rebuild_share": 1e-6}))
    assert "fct_sales: rebuilt, not merged" in result.stdout
    assert "int_parcels_versioned: rebuilt" not in result.stdout
    assert warehouse.rows_inserted("fct_sales") == warehouse.db.scalar("select count(*) from marts.fct_sales")
    assert warehouse.rows_inserted("int_parcels_versioned") == 0
    warehouse.equivalent()
    compiled = next((warehouse.target / "compiled").rglob("not_null_stg_recorder__sales_sale_date.sql")).read_text()
    assert "loaded_at" not in compiled


def test_scoped_tests_still_catch_a_bad_new_row(warehouse):
    """A new file with a negative price fails the build's test on it, although the test now
    reads only the rows loaded since it last passed."""
    key = "recorder/sales/2024/01/16/sales_20240115.csv.gz"
    header = "document_number,parcel_id,sale_date,recording_date,sale_price,deed_type,buyer_name,seller_name\n"
    parcel = warehouse.db.scalar("select parcel_id from raw.assessor__parcels limit 1")
    body = header + f"BAD-0001,{parcel},2024-01-15,2024-01-16,-5,WD,Ann Lee,Bo Chan\n"
    with warehouse.landing.writer(key) as out:
        out.write(gzip.compress(body.encode()))
    warehouse.ingest()
    result = warehouse.dbt("build", "--quiet", check_ok=False)
    assert result.returncode != 0
    failed = {uid for uid, r in warehouse.results().items() if r["status"] in ("fail", "error")}
    assert any("accepted_range_stg_recorder__sales_sale_price" in uid for uid in failed), failed



def test_a_concurrent_analyze_cannot_deadlock_a_merge(warehouse):
    """An analyze of fct_sales running while the model merges into it (autovacuum's, in real life)
    must not deadlock the build (macros/incremental/lock_against_maintenance.sql). The scenario that
    deadlocked before: the merge's transaction re-grants the BI role (a GRANT rewrites the table's
    pg_class row), then its persist_docs comment waits for the analyze's lock, while the analyze,
    finishing, waits to update that same pg_class row. Here a session holds the analyze's lock,
    waits until the build waits for it, analyzes and commits: the build must succeed, the grant
    be back."""
    db = warehouse.db
    bi_role = warehouse.env.get("TERRAMINER_BI_ROLE", "terraminer_bi")
    revoke = sql.SQL("revoke select on marts.fct_sales from {}").format(sql.Identifier(bi_role))
    with db.connect(autocommit=True) as conn:
        conn.execute(revoke)  # the build's grants will have something to do
    table_waits = ("select count(*) from pg_locks where relation = 'marts.fct_sales'::regclass "
                   "and not granted")
    with db.connect() as holder:
        holder.execute("lock table marts.fct_sales in share update exclusive mode")
        build = subprocess.Popen([dbt_executable(), "run", "--select", "fct_sales"], cwd=project_dir(),
                                 env=warehouse.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 900  # a guard against a hang, not a speed check
        while build.poll() is None and db.scalar(table_waits) == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert build.poll() is None, "the build should wait for the held lock: " + build.stdout.read()[-3000:]
        holder.execute("analyze marts.fct_sales")  # waits for the build's transaction if it rewrote pg_class
    output, _ = build.communicate()
    assert build.returncode == 0, output[-4000:]
    assert "deadlock" not in output
    assert db.scalar("select has_table_privilege(%s, 'marts.fct_sales', 'select')", (bi_role,))
