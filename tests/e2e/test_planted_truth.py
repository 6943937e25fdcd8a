"""What the pipeline recovers from synthetic feeds with planted truth (ingestion.synthetic writes
the true monthly index per region and every sale's true value beside the files).

Synthetic landing zone → product loader → dbt (the models upstream of the computed price index
and of the AVM feature table) → checks against the truth:
- TerraMiner's computed regional index tracks the planted index (correlation ≥ 0.95 over ≥ 24
  months, every region);
- the AVM trained on feat_avm_sales reaches the noise floor the generator planted: its test MdAPE
  is within 1.5 points of the MdAPE of the true values themselves on the same test sales.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from core.dbt import dbt_executable
from core.settings import Settings, project_dir
from terraminer.stack import LocalStack

XDIST_WEIGHT = 110  # seconds on 2 cores: conftest starts heavy files first
SCALE = 12
SEED = 5


@pytest.fixture(scope="module")
def warehouse():
    from ingestion.contract import load_contracts
    from ingestion.landing import open_landing
    from ingestion.runner import ingest
    from ingestion.synthetic import generate
    from terraminer import roles

    home = Path(tempfile.mkdtemp(prefix="tmp-", dir="/tmp"))
    settings = Settings(env="ci", home=home)
    stack = LocalStack(settings)
    stack.up()
    try:
        landing = open_landing(settings.landing)
        generate(landing, scale=SCALE, seed=SEED)
        with psycopg.connect(**settings.warehouse.conninfo()) as conn:
            roles.apply_postgres(conn)  # marts grant SELECT to the BI role
            _, report = ingest(conn, load_contracts(), landing)
        assert report.refused == []
        env = {**os.environ, **settings.dbt_env(), "DBT_TARGET": "ci", "DBT_PROFILES_DIR": str(project_dir()),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        dbt = dbt_executable()
        for args in (["seed", "--quiet"],
                     ["build", "--quiet", "--select", "+fct_price_index_monthly", "+feat_avm_sales", "--indirect-selection", "cautious",
                      "--target-path", str(home / "dbt-target")]):
            proc = subprocess.run([dbt, *args], cwd=project_dir(), env=env, capture_output=True, text=True)
            assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        yield settings, Path(settings.landing) / "_truth"
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def _frame(settings: Settings, query: str) -> pd.DataFrame:
    with psycopg.connect(**settings.warehouse.conninfo()) as conn, conn.cursor() as cur:
        cur.execute(query)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def test_computed_index_tracks_the_planted_index(warehouse):
    settings, truth_dir = warehouse
    truth = pd.read_csv(truth_dir / "index_monthly.csv", parse_dates=["period_month"])
    computed = _frame(settings, "select region_id, index_month, index_value from marts.fct_price_index_monthly "
                                "where index_source = 'terraminer'")
    computed["index_month"] = pd.to_datetime(computed["index_month"])
    joined = computed.merge(truth, left_on=["region_id", "index_month"], right_on=["region_code", "period_month"])
    regions = sorted(truth["region_code"].unique())
    assert sorted(joined["region_id"].unique()) == regions
    for region, rows in joined.groupby("region_id"):
        assert len(rows) >= 24, (region, len(rows))
    # the merge suffixes: computed index_value_x, planted index_value_y
    correlations = {
        region: float(np.corrcoef(rows["index_value_x"].astype(float), rows["index_value_y"].astype(float))[0, 1])
        for region, rows in joined.groupby("region_id")
    }
    print("computed vs planted index correlation:", {r: round(c, 4) for r, c in correlations.items()})
    assert min(correlations.values()) >= 0.95, correlations


def test_avm_reaches_the_planted_noise_floor(warehouse):
    from ml.features import load_sales
    from ml.train import evaluate

    settings, truth_dir = warehouse
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        frame = load_sales(conn, "synthetic")
    result = evaluate(frame)
    with gzip.open(truth_dir / "sales_truth.csv.gz", "rt") as handle:
        truth = pd.read_csv(handle, dtype={"document_number": str})
    truth["sale_id"] = "syn:" + truth["document_number"]
    test = result.predictions.merge(truth[["sale_id", "true_value"]], on="sale_id", how="left")
    assert test["true_value"].notna().all()  # every test sale has its planted value
    floor = float(np.median(np.abs(test["true_value"] - test["actual"]) / test["actual"]))
    mdape = result.metrics["mdape"]
    print(f"synthetic AVM: mdape={mdape:.4f} noise_floor={floor:.4f} n_test={result.metrics['n']}")
    assert result.metrics["n"] >= 300
    assert 0.03 < floor < 0.2  # sigma 0.1 plants a floor near 0.067: the truth file is what we think
    assert mdape <= floor + 0.015, (mdape, floor)
