"""The semantic layer (dbt semantic models + MetricFlow metrics, dbt_project/models/semantic/):
`mf validate-configs` passes, and on a real (small) build the README's
`mf query --metrics sales_count,median_sale_price --group-by metric_time__month` prints one row
per month whose figures are those of marts.mart_market_monthly, per region too, and those the web
app's market page shows for the same region and month."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from core.settings import project_dir

XDIST_WEIGHT = 220  # seconds on 2 cores: a small ingest + dbt build of mart_market_monthly, two mf runs
MF = shutil.which("mf", path=str(Path(__import__("sys").executable).parent)) or shutil.which("mf")

pytestmark = pytest.mark.skipif(MF is None, reason="dbt-metricflow is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from core.dbt import dbt_env, dbt_executable
    from terraminer import pipeline
    from terraminer.stack import temporary_stack

    target = tmp_path_factory.mktemp("mf-target")
    with temporary_stack(prefix="tmmf-") as settings:
        from ingestion.landing import open_landing
        from ingestion.synthetic import generate

        landing = open_landing(settings.landing)
        generate(landing, scale=1, seed=7)
        pipeline.prepare_warehouse(settings)
        pipeline.ingest_landing(settings, landing, refuse_is_error=True)
        env = {**dbt_env(settings, "ci"), "DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target / "logs")}
        for args in (["seed", "--quiet"],
                     ["build", "--quiet", "--select", "+mart_market_monthly", "+fct_price_index_monthly", "+dim_properties",
                      "metricflow_time_spine",
                      "--indirect-selection", "cautious", "--exclude", "test_type:unit"]):
            proc = subprocess.run([dbt_executable(), *args], cwd=project_dir(), env=env, capture_output=True, text=True)
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        # mf reads <project>/target/semantic_manifest.json whatever DBT_TARGET_PATH says (dbt-metricflow
        # 0.15 hard-codes the path): put this build's artifact there, as `dbt parse` would on a checkout.
        (project_dir() / "target").mkdir(exist_ok=True)
        shutil.copy2(target / "semantic_manifest.json", project_dir() / "target" / "semantic_manifest.json")
        yield settings, env, target


def _mf(env: dict, *args: str) -> str:
    proc = subprocess.run([MF, *args], cwd=project_dir(), env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def test_mf_validate_configs(built):
    _, env, _ = built
    out = _mf(env, "validate-configs", "--skip-dw")
    assert "ERRORS: 0" in out and "Successfully validated" in out, out[-2000:]


def test_mf_query_equals_the_mart_and_the_market_page(built, tmp_path):
    settings, env, target = built
    by_region = tmp_path / "by_region.csv"
    _mf(env, "query", "--metrics", "sales_count,median_sale_price", "--group-by",
        "metric_time__month,region__region_id", "--csv", str(by_region))
    overall = tmp_path / "overall.csv"  # the README's command
    _mf(env, "query", "--metrics", "sales_count,median_sale_price", "--group-by", "metric_time__month",
        "--csv", str(overall))
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        mart = {(r[0], r[1]): (r[2], r[3]) for r in conn.execute(
            "select region_id, activity_month, sales_count, median_sale_price from marts.mart_market_monthly "
            "where sales_count > 0").fetchall()}
    rows = list(csv.DictReader(by_region.open()))
    got = {}
    for row in rows:
        if not row["sales_count"] or int(float(row["sales_count"])) == 0:
            continue
        month = dt.date.fromisoformat(row["metric_time__month"][:10])
        got[(row["region__region_id"], month)] = (int(float(row["sales_count"])),
                                                  Decimal(row["median_sale_price"]).quantize(Decimal("0.01")))
    assert len(mart) > 20 and set(got) == set(mart)
    for key, (count, median) in mart.items():
        assert got[key][0] == count, key
        assert abs(got[key][1] - median) <= Decimal("0.01"), (key, got[key], median)
    months = [r["metric_time__month"] for r in csv.DictReader(overall.open())]
    assert len(months) == len(set(months)) == len({m for _, m in mart})  # one row per month
    totals = {}
    for (_, month), (count, _) in mart.items():
        totals[month] = totals.get(month, 0) + count
    for row in csv.DictReader(overall.open()):
        month = dt.date.fromisoformat(row["metric_time__month"][:10])
        assert int(float(row["sales_count"])) == totals[month], month

    # the web app's market page shows the same figures for a region and month
    from fastapi.testclient import TestClient

    from api.main import build_context
    from api.security import create_key
    from web.server import create_app

    region, month = max(mart, key=lambda k: (mart[k][0], k))
    with psycopg.connect(**settings.warehouse.conninfo(user=settings.api_pg_user), autocommit=True) as conn:
        key = create_key(conn, "mf-check", ["markets"])
    context = build_context(settings.model_copy(update={"api_cache": False}))
    try:
        with TestClient(create_app(settings, context), follow_redirects=False) as client:
            login = client.post("/app/login", content=f"api_key={key}",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert login.status_code == 303
            page = client.get(f"/app/markets/{region}").text
    finally:
        context.pool.close()
    count, median = got[(region, month)]
    row = page.split(f'data-month="{month.isoformat()[:7]}"', 1)[1].split("</tr>", 1)[0]
    assert f'data-metric="sales_count">{count}<' in row
    assert f'data-value="{float(median)}"' in row


def test_marts_carry_their_descriptions_as_comments(built):
    """persist_docs: `\\d+ marts.fct_sales` (and any BI tool) shows the YAML's descriptions."""
    settings, _, _ = built
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        table = conn.execute("select obj_description('marts.fct_sales'::regclass, 'pg_class')").fetchone()[0]
        columns = dict(conn.execute(
            "select a.attname, col_description(a.attrelid, a.attnum) from pg_attribute a "
            "where a.attrelid = 'marts.fct_sales'::regclass and a.attnum > 0 and not a.attisdropped").fetchall())
        spine = conn.execute("select col_description('marts.metricflow_time_spine'::regclass, 1)").fetchone()[0]
    assert table and "sale" in table.lower()
    assert columns["sale_price"] and columns["sale_month"] == "First day of the sale month."
    assert sum(1 for text in columns.values() if text) >= 0.9 * len(columns), columns
    assert spine == "The day."
