"""The PostgreSQL loader on a real embedded server: exactly-once, replace, merge, rejects, refusals."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from ingestion.contract import load_contracts
from ingestion.landing import open_landing
from ingestion.runner import ingest

KC_HEADER = (
    "id,date,price,bedrooms,bathrooms,sqft_living,sqft_lot,floors,waterfront,view,condition,grade,"
    "sqft_above,sqft_basement,yr_built,yr_renovated,zipcode,lat,long,sqft_living15,sqft_lot15\n"
)


def kc_row(i: int, price: str = "450000", date: str = "20141013T000000") -> str:
    return (
        f'"{i:010d}","{date}",{price},3,2.25,1800,5000,"1",0,0,3,7,1800,0,1990,0,"98103",47.6,-122.3,1700,5000\n'
    )


def put(root: Path, key: str, text: str | bytes) -> Path:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if key.endswith(".gz"):
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def run(db, root: Path, *names: str):
    with db.connect() as conn:
        return ingest(conn, load_contracts(names=list(names) or None), open_landing(str(root)))[1]


def test_load_is_exactly_once_and_rerun_is_a_noop(db, tmp_path):
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER + "".join(kc_row(i) for i in range(50)))
    put(tmp_path, "king_county/sales/2024/01/02/b.csv", KC_HEADER + "".join(kc_row(i) for i in range(50, 80)))
    report = run(db, tmp_path, "king_county__sales")
    assert [r.status for r in report.results] == ["loaded", "loaded"]
    assert db.scalar("select count(*) from raw.king_county__sales") == 80
    again = run(db, tmp_path, "king_county__sales")
    assert again.results == []
    assert db.scalar("select count(*) from raw.king_county__sales") == 80
    ledger = db.rows(
        "select file_key, status, rows_read, rows_loaded, rows_rejected from ingestion_meta.load_ledger order by 1"
    )
    assert ledger == [
        ("king_county/sales/2024/01/01/a.csv", "loaded", 50, 50, 0),
        ("king_county/sales/2024/01/02/b.csv", "loaded", 30, 30, 0),
    ]
    # row numbers are source line numbers (header is line 1)
    assert db.scalar("select min(_row_number) from raw.king_county__sales where _file_key like '%a.csv'") == 2
    assert db.scalar("select max(_row_number) from raw.king_county__sales where _file_key like '%a.csv'") == 51


def test_changed_file_replaces_only_its_rows(db, tmp_path):
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER + "".join(kc_row(i) for i in range(10)))
    put(tmp_path, "king_county/sales/2024/01/02/b.csv", KC_HEADER + "".join(kc_row(i) for i in range(10, 20)))
    run(db, tmp_path, "king_county__sales")
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER + "".join(kc_row(i, "999") for i in range(4)))
    report = run(db, tmp_path, "king_county__sales")
    assert [(r.file_key.rsplit("/", 1)[1], r.status, r.replaced) for r in report.results] == [("a.csv", "loaded", True)]
    counts = dict(db.rows("select _file_key, count(*) from raw.king_county__sales group by 1"))
    assert counts == {"king_county/sales/2024/01/01/a.csv": 4, "king_county/sales/2024/01/02/b.csv": 10}
    assert db.scalar("select count(*) from raw.king_county__sales where price = 999") == 4
    superseded = db.scalar("select count(*) from ingestion_meta.load_ledger where superseded_at is not null")
    assert superseded == 1


def test_rejected_rows_keep_line_column_reason_and_raw_text(db, tmp_path):
    body = KC_HEADER + kc_row(1) + kc_row(2, price="abc") + kc_row(3, date="20141332T000000")
    body += '"4","20141013T000000",100,3\n' + kc_row(5, price="1e30") + kc_row(6)
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", body)
    (result,) = run(db, tmp_path, "king_county__sales").results
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == ("loaded", 6, 2, 4)
    rejects = db.rows(
        "select line_number, column_name, reason, value, raw_text from ingestion_meta.rejected_rows order by 1"
    )
    assert [(r[0], r[1]) for r in rejects] == [(3, "price"), (4, "sale_date"), (5, None), (6, "price")]
    assert "invalid input syntax for type numeric" in rejects[0][2] and rejects[0][3] == "abc"
    assert "out of range" in rejects[1][2]
    assert rejects[2][2] == "expected 21 fields, found 4"
    assert rejects[3][2] == "numeric field overflow"
    assert rejects[0][4] == kc_row(2, price="abc")
    assert db.scalar("select count(*) from raw.king_county__sales") == 2


def test_too_many_rejects_refuse_the_file_and_keep_the_table_unchanged(db, tmp_path):
    good = KC_HEADER + "".join(kc_row(i) for i in range(5))
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", good)
    run(db, tmp_path, "king_county__sales")
    bad = KC_HEADER + "".join(kc_row(i, price="n/a") for i in range(30)) + kc_row(99)
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", bad)
    (result,) = run(db, tmp_path, "king_county__sales").results
    assert result.status == "refused" and "30 of 31 rows rejected" in result.error
    assert "\n" not in result.error
    assert db.scalar("select count(*) from raw.king_county__sales") == 5  # the earlier version survives
    assert db.scalar("select count(*) from ingestion_meta.rejected_rows") == 30


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.csv", "id,date\n1,20140101T000000\n", "missing required column(s) price"),
        ("dupes.csv", KC_HEADER.replace("view", "grade"), "duplicate column names in header: grade"),
        ("empty.csv", "", "file is empty"),
        ("trunc.csv.gz", None, "truncated gzip stream"),
    ],
)
def test_unusable_files_are_refused_with_one_line(db, tmp_path, name, content, reason):
    key = f"king_county/sales/2024/01/01/{name}"
    if content is None:
        raw = gzip.compress((KC_HEADER + "".join(kc_row(i) for i in range(2000))).encode())
        (tmp_path / key).parent.mkdir(parents=True)
        (tmp_path / key).write_bytes(raw[: len(raw) // 2])
    else:
        put(tmp_path, key, content)
    (result,) = run(db, tmp_path, "king_county__sales").results
    assert result.status == "refused"
    assert reason in result.error and "\n" not in result.error
    assert db.scalar("select count(*) from raw.king_county__sales") == 0
    # unchanged contract: the refused version is not retried
    assert run(db, tmp_path, "king_county__sales").results == []


def test_header_only_file_loads_zero_rows(db, tmp_path):
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER)
    (result,) = run(db, tmp_path, "king_county__sales").results
    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 0, 0)


def test_embedded_newlines_quotes_bom_and_crlf(db, tmp_path):
    rows = (
        '\ufeffparcel_id,situs_address,city,postcode,region_code,latitude,longitude,property_class,land_sqft,'
        "living_sqft,bedrooms,bathrooms,year_built,stories,condition_code,quality_grade,land_value,"
        "improvement_value,total_assessed_value,roll_year\r\n"
        'P1,"1 MAIN ST\r\nUNIT ""A""",X,12345,R01,1,1,SFR,1,1,1,1,1990,1,3,7,1,1,2,2024\r\n'
        "P2,2 MAIN ST\\back,X,12345,R01,1,1,SFR,1,1,1,1,1990,1,3,7,1,1,2,2024\r\n"
    )
    put(tmp_path, "assessor/parcels/2024/01/02/parcels_2024.csv", rows)
    (result,) = run(db, tmp_path, "assessor__parcels").results
    assert (result.status, result.rows_loaded, result.rows_rejected) == ("loaded", 2, 0)
    got = dict(db.rows("select parcel_id, situs_address from raw.assessor__parcels"))
    assert got == {"P1": '1 MAIN ST\r\nUNIT "A"', "P2": "2 MAIN ST\\back"}
    assert db.scalar("select min(_row_number) || '-' || max(_row_number) from raw.assessor__parcels") == "2-4"


def test_jsonl_feed_with_bad_lines(db, tmp_path):
    good = {"event_id": "E1", "listing_id": "L1", "parcel_id": "P1", "event_type": "listed",
            "event_at": "2024-01-02T10:00:00Z", "list_price": 500000, "close_price": None, "bedrooms": 3,
            "bathrooms": 2.5, "living_sqft": 1500, "agent_id": "A1"}
    lines = [json.dumps(good), "{not json", "[1, 2]", json.dumps(dict(good, event_id="E2", list_price="cheap")), ""]
    put(tmp_path, "mls/listing_events/2024/01/02/events_20240102.jsonl", "\n".join(lines) + "\n")
    (result,) = run(db, tmp_path, "mls__listing_events").results
    assert (result.status, result.rows_read, result.rows_loaded, result.rows_rejected) == ("loaded", 4, 1, 3)
    reasons = [r[0] for r in db.rows("select reason from ingestion_meta.rejected_rows order by line_number")]
    assert reasons[0].startswith("invalid JSON") and reasons[1].startswith("expected a JSON object")
    assert "numeric" in reasons[2]
    # a daily feed (index_key in its contract) gets a btree index on its key for staging's dedupe lookup
    index = "select indexdef from pg_indexes where schemaname = 'raw' and indexname = %s"
    assert "(event_id)" in db.scalar(index, ("mls__listing_events__key_idx",))


def test_a_large_load_refreshes_the_raw_tables_statistics_a_small_one_does_not(db, tmp_path):
    """The dbt build after a big delivery plans on the raw table's new size (issue 19, item 5):
    a run that grows a raw table by at least 10 % vacuums and analyzes it (reltuples is exact on a
    table this small); a run adding a few rows leaves that to autovacuum."""

    def reltuples() -> float:
        return db.scalar("select reltuples from pg_class where oid = 'raw.king_county__sales'::regclass")

    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER + "".join(kc_row(i) for i in range(200)))
    run(db, tmp_path, "king_county__sales")
    assert reltuples() == 200
    put(tmp_path, "king_county/sales/2024/01/02/b.csv", KC_HEADER + "".join(kc_row(i) for i in range(200, 205)))
    run(db, tmp_path, "king_county__sales")
    assert reltuples() == 200  # 5 rows: 2.5 %, not refreshed
    put(tmp_path, "king_county/sales/2024/01/03/c.csv", KC_HEADER + "".join(kc_row(i) for i in range(205, 305)))
    run(db, tmp_path, "king_county__sales")
    assert reltuples() == 305
    assert db.scalar("select last_vacuum is not null from pg_stat_user_tables where relid = 'raw.king_county__sales'::regclass")


def test_key_index_only_where_the_contract_asks(db, tmp_path):
    put(tmp_path, "king_county/sales/2024/01/01/a.csv", KC_HEADER + kc_row(1))
    run(db, tmp_path, "king_county__sales")
    indexes = db.rows("select indexdef from pg_indexes where schemaname = 'raw' and tablename = 'king_county__sales'")
    assert len(indexes) == 1 and "brin" in indexes[0][0]  # loads stay append-only fast


UK_ROW = '"{{{tid}}}","{price}","2025-01-15 00:00","PO30 1AA","T","N","F","1","","HIGH ST","","NEWPORT","ISLE OF WIGHT","ISLE OF WIGHT","A","{status}"\n'


def test_merge_applies_add_change_delete_in_landing_key_order(db, tmp_path):
    put(tmp_path, "uk_land_registry/price_paid/2025/01/28/Jan.csv",
        UK_ROW.format(tid="A", price=100, status="A") + UK_ROW.format(tid="B", price=200, status="A"))
    put(tmp_path, "uk_land_registry/price_paid/2025/02/28/Feb.csv",
        UK_ROW.format(tid="A", price=150, status="C") + UK_ROW.format(tid="B", price=200, status="D")
        + UK_ROW.format(tid="C", price=300, status="A"))
    run(db, tmp_path, "uk_land_registry__price_paid")
    live = dict(db.rows("select transaction_id, price::int from raw.uk_land_registry__price_paid"))
    assert live == {"{A}": 150, "{C}": 300}
    assert db.scalar("select count(*) from raw.uk_land_registry__price_paid__changes") == 5
    # a re-delivered, corrected January file: the later February changes still win
    put(tmp_path, "uk_land_registry/price_paid/2025/01/28/Jan.csv",
        UK_ROW.format(tid="A", price=110, status="A") + UK_ROW.format(tid="D", price=400, status="A"))
    run(db, tmp_path, "uk_land_registry__price_paid")
    live = dict(db.rows("select transaction_id, price::int from raw.uk_land_registry__price_paid"))
    assert live == {"{A}": 150, "{C}": 300, "{D}": 400}


def test_s3_landing_through_moto(db, s3_endpoint, s3_bucket):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    body = (KC_HEADER + "".join(kc_row(i) for i in range(25))).encode()
    client.put_object(Bucket=s3_bucket, Key="landing/king_county/sales/2024/01/01/a.csv.gz", Body=gzip.compress(body))
    landing = open_landing(f"s3://{s3_bucket}/landing", endpoint_url=s3_endpoint)
    with db.connect() as conn:
        _, report = ingest(conn, load_contracts(names=["king_county__sales"]), landing)
    (result,) = report.results
    assert (result.status, result.rows_loaded) == ("loaded", 25)
    etag = client.head_object(Bucket=s3_bucket, Key="landing/king_county/sales/2024/01/01/a.csv.gz")["ETag"]
    assert db.scalar("select file_version from ingestion_meta.load_ledger") == etag.strip('"')
