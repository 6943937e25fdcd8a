"""Daily partitions of the daily feeds' ingestion assets (issue 19): by the landing date in the key.

On a real embedded warehouse and a local landing zone of synthetic feeds (40 days of deliveries):
- a backfill of a 30-day range runs once (single-run backfill policy) and loads exactly the files
  whose landing date lies in the range, nothing before or after it;
- it equals 30 daily runs of those days in another database, row by row (every raw column but the
  load timestamp);
- a re-run of one loaded day changes nothing; after a file of that day is re-delivered, a re-run of
  that day replaces that file's rows and nothing else;
- a run without a partition (the sensors' and the daily refresh's runs) still loads every pending file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import warnings
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import _create_database, _drop_database

XDIST_WEIGHT = 60
CONTRACT = "recorder__sales"
PREFIX = "recorder/sales/"
START = dt.date(2024, 3, 1)
FIRST, LAST = dt.date(2024, 3, 6), dt.date(2024, 4, 4)  # the backfilled range, inclusive (30 days)


@pytest.fixture(scope="module")
def landing_dir(tmp_path_factory) -> Path:
    from ingestion.landing import open_landing
    from ingestion.synthetic import generate

    root = tmp_path_factory.mktemp("landing")
    generate(open_landing(str(root)), scale=20, seed=5, start=START, days=40)
    return root


@pytest.fixture
def two_databases(stack_settings):
    first, second = _create_database(stack_settings), _create_database(stack_settings)
    try:
        yield first, second
    finally:
        _drop_database(first)
        _drop_database(second)


def _asset(daily=True):
    from orchestration.assets.ingestion import build_ingestion_asset

    return build_ingestion_asset(CONTRACT, daily=daily)


def _run(database, monkeypatch, landing_dir: Path, *, partition_key=None, days=None, daily=True):
    from orchestration.resources import LandingResource, WarehouseResource

    monkeypatch.setenv("TERRAMINER_ENV", "ci")
    monkeypatch.setenv("TERRAMINER_HOME", str(database.settings.home_dir))
    monkeypatch.setenv("TERRAMINER_DATABASE", database.name)
    tags = {}
    if days is not None:
        tags = {"dagster/asset_partition_range_start": days[0].isoformat(),
                "dagster/asset_partition_range_end": days[1].isoformat()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            [_asset(daily)], partition_key=partition_key, tags=tags, raise_on_error=True,
            resources={"warehouse": WarehouseResource(), "landing": LandingResource(uri=str(landing_dir))},
        )
    assert result.success
    return result


def _keys_in(landing_dir: Path, first: dt.date, last: dt.date) -> set[str]:
    from ingestion.landing import landing_date

    keys = {p.relative_to(landing_dir).as_posix() for p in (landing_dir / PREFIX).rglob("*") if p.is_file()}
    return {k for k in keys if first <= landing_date(k, PREFIX) <= last}


def _ledger(database) -> set[str]:
    return {r[0] for r in database.rows(
        "select file_key from ingestion_meta.load_ledger where contract = %s and status = 'loaded'", (CONTRACT,))}


def _raw_rows(database, with_loaded_at=False) -> list[tuple]:
    columns = [r[0] for r in database.rows(
        "select column_name from information_schema.columns where table_schema = 'raw' and table_name = %s "
        "order by ordinal_position", (CONTRACT,))]
    if not with_loaded_at:
        columns = [c for c in columns if c != "_loaded_at"]
    listed = ", ".join(f'"{c}"' for c in columns)
    return database.rows(f'select {listed} from raw."{CONTRACT}" order by _file_key, _row_number')


def test_the_daily_feeds_are_partitioned_with_single_run_backfills():
    from orchestration.assets.ingestion import DAILY_PARTITIONS, daily_contracts

    assert daily_contracts(["recorder__sales", "mls__listing_events", "assessor__parcels", "zillow__zhvi"]) == {
        "recorder__sales", "mls__listing_events"}
    asset = _asset()
    assert asset.partitions_def == DAILY_PARTITIONS
    assert asset.backfill_policy == dg.BackfillPolicy.single_run()
    assert _asset(daily=False).partitions_def is None


def test_landing_date_of_a_key():
    from ingestion.landing import landing_date

    assert landing_date("recorder/sales/2024/03/06/sales_20240301.csv.gz", PREFIX) == dt.date(2024, 3, 6)
    assert landing_date("recorder/sales/sales.csv", PREFIX) is None
    assert landing_date("recorder/sales/2024/13/06/x.csv", PREFIX) is None
    assert landing_date("mls/listing_events/2024/03/06/x.jsonl", PREFIX) is None


def test_a_backfill_in_one_run_equals_a_daily_run_of_each_day(two_databases, landing_dir, monkeypatch):
    backfilled, daily = two_databases
    expected = _keys_in(landing_dir, FIRST, LAST)
    assert expected and _keys_in(landing_dir, START, LAST + dt.timedelta(days=30)) - expected  # files outside

    result = _run(backfilled, monkeypatch, landing_dir, days=(FIRST, LAST))
    partitions = {e.partition for e in result.get_asset_materialization_events()}
    assert len(partitions) == 30 and min(partitions) == FIRST.isoformat() and max(partitions) == LAST.isoformat()
    assert _ledger(backfilled) == expected  # exactly those days' files

    day = FIRST
    while day <= LAST:
        _run(daily, monkeypatch, landing_dir, partition_key=day.isoformat())
        day += dt.timedelta(days=1)
    assert _ledger(daily) == expected
    rows = _raw_rows(backfilled)
    assert len(rows) > 300 and rows == _raw_rows(daily)  # row by row

    # a re-run of one loaded day: nothing changes, not even the load timestamps
    before = _raw_rows(backfilled, with_loaded_at=True)
    _run(backfilled, monkeypatch, landing_dir, partition_key=LAST.isoformat())
    assert _raw_rows(backfilled, with_loaded_at=True) == before

    # a file of that day re-delivered (half its rows): the re-run replaces that file's rows only
    key = sorted(_keys_in(landing_dir, LAST, LAST))[0]
    path = landing_dir / key
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    kept = lines[: 1 + (len(lines) - 1) // 2]
    path.write_bytes(gzip.compress("".join(kept).encode()))
    _run(backfilled, monkeypatch, landing_dir, partition_key=LAST.isoformat())
    after = _raw_rows(backfilled, with_loaded_at=True)
    others_before = [r for r in before if key not in r]
    others_after = [r for r in after if key not in r]
    assert others_after == others_before
    assert len(after) - len(others_after) == len(kept) - 1
    assert backfilled.scalar("select count(*) from ingestion_meta.load_ledger where contract = %s "
                             "and file_key = %s and status = 'loaded' and superseded_at is null",
                             (CONTRACT, key)) == 1

    # a run without a partition loads every other pending file, whatever its date
    _run(backfilled, monkeypatch, landing_dir)
    everything = {p.relative_to(landing_dir).as_posix() for p in (landing_dir / PREFIX).rglob("*") if p.is_file()}
    assert _ledger(backfilled) == everything
