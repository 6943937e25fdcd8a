"""Every real public feed from ../shared/data through the product loader (skips without the data)."""

from __future__ import annotations

import csv
import shutil

import pytest

from ingestion.contract import load_contracts
from ingestion.landing import open_landing
from ingestion.real_feeds import real_files, stage_real_feeds
from ingestion.runner import ingest
from tests.conftest import shared_data

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


@pytest.fixture(scope="module")
def loaded(module_db, tmp_path_factory):
    data = shared_data()
    landing_dir = tmp_path_factory.mktemp("real-landing")
    landing = open_landing(str(landing_dir))
    stage_real_feeds(landing, data)
    with module_db.connect() as conn:
        _, report = ingest(conn, load_contracts(), landing)
    return module_db, report, landing_dir, data


def test_every_ledger_row_reconciles(loaded):
    db, report, _, _ = loaded
    assert report.refused == []
    assert len(report.results) == len(real_files(shared_data()))
    for row in db.rows("select file_key, status, rows_read, rows_loaded, rows_rejected from ingestion_meta.load_ledger"):
        key, status, read, loaded_rows, rejected = row
        assert status == "loaded", key
        assert read == loaded_rows + rejected, key
        table = key.split("/")[0] + "__" + key.split("/")[1]
        if table == "uk_land_registry__price_paid":
            table += "__changes"
        assert db.scalar(f'select count(*) from raw."{table}" where _file_key = %s', (key,)) == loaded_rows


def test_king_county_loads_every_row(loaded):
    db, _, _, _ = loaded
    assert db.rows("select rows_read, rows_loaded, rows_rejected from ingestion_meta.load_ledger "
                   "where contract = 'king_county__sales'") == [(21613, 21613, 0)]
    assert db.scalar("select count(*) from raw.king_county__sales where parcel_id like '0%'") == 2059
    assert db.scalar("select max(price) from raw.king_county__sales") == 7700000
    assert db.scalar("select count(*) from raw.king_county__sales where bedrooms = 33") == 1


def test_nyc_reads_exactly_its_data_rows(loaded):
    db, _, _, _ = loaded
    assert db.scalar("select sum(rows_read) from ingestion_meta.load_ledger where contract = 'nyc_dof__rolling_sales'") == 66927
    assert db.scalar("select count(*) from raw.nyc_dof__rolling_sales") == 66927
    assert db.scalar("select count(*) from raw.nyc_dof__rolling_sales where sale_price = 0") > 20000
    assert db.scalar("select max(land_square_feet) from raw.nyc_dof__rolling_sales") == 214755710


def test_uk_merge_equals_replaying_changes_in_month_order(loaded):
    db, _, _, data = loaded
    folder = data / "uk_land_registry" / "price_paid_monthly"
    files = sorted(folder.glob("*.csv"), key=lambda p: (int(p.stem.split("_")[1]), MONTHS.index(p.stem.split("_")[0])))
    live: dict[str, str] = {}
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if row[15] == "D":
                    live.pop(row[0], None)
                else:
                    live[row[0]] = row[1]
    got = dict(db.rows("select transaction_id, cast(cast(price as bigint) as text) from raw.uk_land_registry__price_paid"))
    assert got == live
    assert db.scalar("select count(*) from raw.uk_land_registry__price_paid__changes") == 4386


def test_zhvi_lands_one_row_per_non_empty_cell(loaded):
    db, _, _, data = loaded
    cells = 0
    for path in (data / "market_indices").glob("zillow_zhvi_*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            months = [i for i, h in enumerate(header) if h[:2] in ("19", "20")]
            cells += sum(1 for row in reader for i in months if row[i].strip())
    assert db.scalar("select count(*) from raw.zillow__zhvi") == cells
    assert db.scalar("select count(*) - count(distinct (region_id, month_end)) from raw.zillow__zhvi") == 0


def test_case_shiller_one_row_per_month(loaded):
    db, _, _, data = loaded
    for series in ("SEXRNSA", "CSUSHPINSA"):
        lines = (data / "market_indices" / f"caseshiller_{series}.csv").read_text().strip().splitlines()
        assert db.scalar("select count(*) from raw.fred__case_shiller where series_id = %s", (series,)) == len(lines) - 1
        assert db.scalar(
            "select count(distinct observation_date) from raw.fred__case_shiller where series_id = %s", (series,)
        ) == len(lines) - 1


def test_second_ingest_loads_nothing_and_redelivery_replaces_only_its_rows(loaded):
    db, _, landing_dir, data = loaded
    landing = open_landing(str(landing_dir))
    with db.connect() as conn:
        _, again = ingest(conn, load_contracts(), landing)
    assert again.results == []
    # re-deliver Staten Island with its last 100 data lines dropped
    key = "nyc_dof/rolling_sales/2020/09/18/nyc_rollingsales_statenisland_2019-09_2020-08.csv"
    source = data / "nyc_dof_rolling_sales" / "nyc_rollingsales_statenisland_2019-09_2020-08.csv"
    lines = [line for line in source.read_text(encoding="utf-8-sig").splitlines(keepends=True) if line.strip(",\n")]
    before = dict(db.rows("select _file_key, count(*) from raw.nyc_dof__rolling_sales group by 1"))
    (landing_dir / key).write_text("".join(lines[:-100]), encoding="utf-8")
    with db.connect() as conn:
        _, report = ingest(conn, load_contracts(names=["nyc_dof__rolling_sales"]), landing)
    (result,) = report.results
    assert result.replaced and result.rows_loaded == before[key] - 100
    after = dict(db.rows("select _file_key, count(*) from raw.nyc_dof__rolling_sales group by 1"))
    assert after[key] == before[key] - 100
    assert {k: v for k, v in after.items() if k != key} == {k: v for k, v in before.items() if k != key}
    shutil.copyfile(source, landing_dir / key)  # leave the module landing as it was
