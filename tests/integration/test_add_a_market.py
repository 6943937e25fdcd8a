"""README "Add a market", followed step by step on a copy of the project with the worked example
under examples/markets/evergreen_registry/ (contract, one staging model + its sources yml, one
seed row, one word in `vars: markets:`), on a sales file of a market this repository does not
hold: written at test time from King County's public file in another shape (other column names,
`;`-separated, areas in m², no year built, region EVG in EUR). It is ingested, then
`terraminer avm evaluate --source-system evergreen_registry --test-fraction 0.25` must print the
usual metrics line, and its MdAPE must beat a plain HistGradientBoostingRegressor fit on the raw
file's columns with the same split. Slow (a warehouse, a dbt build, training); skips without
../shared/data."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import shared_data

pytestmark = pytest.mark.slow
XDIST_WEIGHT = 200

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "markets" / "evergreen_registry"
MARKET = "evergreen_registry"
LINE = re.compile(r"^mdape=(\d\.\d{4}) ppe10=(\d\.\d{4}) ppe20=(\d\.\d{4}) coverage80=(\d\.\d{4}) n_test=(\d+)$")
SQM = 10.7639104
RAW_FEATURES = ["rooms", "baths", "levels", "floor_area_m2", "plot_area_m2", "state", "build_grade", "outlook",
                "on_water", "postal_code", "lat", "lon"]
IGNORED = shutil.ignore_patterns(".git", ".venv", "target", "logs", "dbt_packages", ".terraminer", "__pycache__",
                                 "node_modules", ".pytest_cache", ".ruff_cache")


def write_market_file(king_county_csv: Path, path: Path) -> pd.DataFrame:
    """The other market's deeds: King County's sales renamed, areas in m², without year built or
    renovation, basement split or neighbour areas; returns what was written."""
    kc = pd.read_csv(king_county_csv, dtype={"id": str, "zipcode": str})
    frame = pd.DataFrame({
        "deed_no": [f"EV{i:07d}" for i in range(len(kc))],
        "parcel": kc["id"],
        "sold_on": pd.to_datetime(kc["date"].str[:8], format="%Y%m%d").dt.strftime("%Y-%m-%d"),
        "amount_eur": kc["price"].round(0).astype("int64"),
        "rooms": kc["bedrooms"],
        "baths": kc["bathrooms"],
        "levels": kc["floors"],
        "floor_area_m2": (kc["sqft_living"] / SQM).round(2),
        "plot_area_m2": (kc["sqft_lot"] / SQM).round(2),
        "state": kc["condition"],
        "build_grade": kc["grade"],
        "outlook": kc["view"],
        "on_water": kc["waterfront"],
        "postal_code": kc["zipcode"],
        "lat": kc["lat"],
        "lon": kc["long"],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep=";", index=False, quoting=csv.QUOTE_MINIMAL)
    return frame


def add_the_market(project: Path) -> None:
    """README "Add a market", steps 1-4, with the worked example's files and nothing else."""
    for source in EXAMPLE.rglob("*"):
        if source.is_file() and source.name != "regions.csv.row":
            target = project / source.relative_to(EXAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    regions = project / "seeds" / "regions.csv"
    text = regions.read_text()
    regions.write_text(text + ("" if text.endswith("\n") else "\n") + (EXAMPLE / "seeds" / "regions.csv.row").read_text())
    config = project / "dbt_project.yml"
    text, count = re.subn(r"(?m)^(  markets: \[)(.*)\]$", rf"\1\2, {MARKET}]", config.read_text())
    assert count == 1
    config.write_text(text)


def plain_gradient_boosting_mdape(frame: pd.DataFrame, test_start: pd.Timestamp, test_ids: set[str]) -> float:
    """sklearn's HistGradientBoostingRegressor on the raw file's columns, trained on the sales
    before the split day, scored on the same test sales as the AVM."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    data = frame.assign(sold_on=pd.to_datetime(frame["sold_on"]), postal_code=frame["postal_code"].astype(float))
    train = data[data["sold_on"] < test_start]
    test = data[data["deed_no"].isin(test_ids)]
    assert len(test) == len(test_ids)
    model = HistGradientBoostingRegressor(random_state=0).fit(train[RAW_FEATURES], train["amount_eur"])
    predicted = model.predict(test[RAW_FEATURES])
    return float(np.median(np.abs(predicted - test["amount_eur"]) / test["amount_eur"]))


def test_a_market_added_by_the_readme_steps_is_evaluated_and_beats_plain_gradient_boosting():
    data = shared_data()
    root = Path(tempfile.mkdtemp(prefix="tmm-", dir="/tmp"))
    home, project, landing = root / "home", root / "project", root / "landing"
    shutil.copytree(REPO, project, ignore=IGNORED, symlinks=True)
    add_the_market(project)
    frame = write_market_file(data / "king_county" / "kc_house_data.csv", landing / MARKET / "sales" / "deeds.csv")
    terraminer = str(Path(sys.executable).parent / "terraminer")
    env = {**os.environ, "TERRAMINER_ENV": "ci", "TERRAMINER_HOME": str(home), "PYTHONPATH": str(project),
           "TERRAMINER_PROJECT_DIR": str(project)}
    for key in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "DBT_TARGET", "MLFLOW_TRACKING_URI", "DAGSTER_HOME",
                "DBT_TARGET_PATH"):
        env.pop(key, None)

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([terraminer, *args], env=env, cwd=project, capture_output=True, text=True,
                              timeout=timeout)
        failures = [line for line in (proc.stdout + proc.stderr).splitlines() if "Failure in" in line or "Error in" in line]
        assert proc.returncode == 0, " ".join(args) + "\n" + "\n".join(failures[:40]) + (proc.stdout + proc.stderr)[-3000:]
        return proc

    try:
        run("up")
        run("roles")
        loaded = run("ingest", "--landing", str(landing))  # every contract's raw table exists after it
        assert f"loaded {len(frame):,}" in loaded.stdout, loaded.stdout[-2000:]
        proc = run("avm", "evaluate", "--source-system", MARKET, "--test-fraction", "0.25", timeout=1800)
        last = proc.stdout.strip().splitlines()[-1]
        match = LINE.match(last)
        assert match, last
        mdape, ppe10, ppe20, coverage, n_test = (float(g) for g in match.groups())
        print(last, flush=True)
        split = re.search(r"test on the latest 25% of sales, from (\d{4}-\d{2}-\d{2})", proc.stderr)
        assert split, proc.stderr[-2000:]
        test_start = pd.Timestamp(split.group(1))

        from core.settings import Settings
        from core.warehouse import connect

        with connect(Settings(env="ci", home=home)) as conn, conn.cursor() as cur:
            cur.execute("select sale_id, sale_date from features.feat_avm_sales where source_system = %s", (MARKET,))
            rows = cur.fetchall()
            cur.execute("select count(*), count(living_sqft), count(year_built) from intermediate.int_sales_unioned "
                        "where source_system = %s", (MARKET,))
            sales, with_area, with_year = cur.fetchone()
            cur.execute("select count(*) from intermediate.int_submarkets_unioned where source_system = %s", (MARKET,))
            submarkets = cur.fetchone()[0]
        prefix = f"{MARKET}:"
        test_ids = {sale_id.removeprefix(prefix) for sale_id, sale_date in rows if pd.Timestamp(sale_date) >= test_start}
        baseline = plain_gradient_boosting_mdape(frame, test_start, test_ids)
        print(last, f"| plain HistGradientBoostingRegressor mdape={baseline:.4f}", f"| split {test_start.date()},",
              f"{len(rows)} feature rows, {len(test_ids)} test sales; int_sales_unioned {sales} sales, {with_area} with",
              f"an area, {with_year} with a year built; {submarkets} submarkets")
        assert sales == len(frame) and with_area == len(frame) and with_year == 0  # m² converted; no year built
        assert submarkets == frame["postal_code"].nunique()  # the postcodes, as the feed has no submarket code
        assert n_test == len(test_ids) and 0.2 * len(rows) <= n_test <= 0.3 * len(rows)
        assert ppe10 <= ppe20 and 0.6 <= coverage <= 0.95
        assert mdape < baseline
    finally:
        subprocess.run([terraminer, "down"], env=env, cwd=project, capture_output=True, text=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)
