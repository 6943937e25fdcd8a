"""The deterministic synthetic landing-zone generator (ingestion/synthetic)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import gzip
import io
import json
import math
import re
import socket
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from core.errors import TerraMinerError
from ingestion.landing import LocalLanding, open_landing
from ingestion.synthetic import Defects, add_arguments, generate, run_from_args
from ingestion.synthetic.truth import theoretical_mdape
from ingestion.synthetic.world import build_world

PARCEL_HEADER = (
    "parcel_id,situs_address,city,postcode,region_code,latitude,longitude,property_class,land_sqft,living_sqft,"
    "bedrooms,bathrooms,year_built,stories,condition_code,quality_grade,land_value,improvement_value,"
    "total_assessed_value,roll_year"
)
SALES_HEADER = "document_number,parcel_id,sale_date,recording_date,sale_price,deed_type,buyer_name,seller_name"
INDEX_HEADER = "region_code,period_month,index_value,series_id"
EVENT_KEYS = [
    "event_id", "listing_id", "parcel_id", "event_type", "event_at", "list_price", "close_price", "bedrooms",
    "bathrooms", "living_sqft", "agent_id",
]
KEY_DATE = re.compile(r"^(?P<source>[a-z_]+)/(?P<entity>[a-z_]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<file>[^/]+)$")
PERSON = re.compile(r"^[A-Z]+, [A-Z]+ [A-Z]$")
DEFECTS = Defects(duplicate_rate=0.04, malformed_rate=0.04, late_rate=0.1, redelivery_rate=0.1)


# -- helpers ---------------------------------------------------------------------------------------------------
def read_zone(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def folder_date(key: str) -> dt.date:
    match = KEY_DATE.match(key)
    assert match, key
    return dt.date(int(match["y"]), int(match["m"]), int(match["d"]))


def text(data: bytes, key: str) -> str:
    return (gzip.decompress(data) if key.endswith(".gz") else data).decode("utf-8")


def truth(files: dict[str, bytes]) -> dict:
    return json.loads(files["_truth/truth.json"])


def sales_truth(files: dict[str, bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text(files["_truth/sales_truth.csv.gz"], ".gz"))))


def valid_sale(fields: list[str], sale_date: str) -> bool:
    if len(fields) != 8:
        return False
    doc, pid, sold, recorded, price, deed, buyer, seller = fields
    try:
        lag = (dt.date.fromisoformat(recorded) - dt.date.fromisoformat(sold)).days
    except ValueError:
        return False
    return (sold == sale_date and 0 <= lag <= 10 and price.isdigit() and deed in {"WD", "GD", "QCD", "TRD"}
            and re.fullmatch(r"D\d{14}", doc) is not None and doc[1:9] == sale_date.replace("-", "")
            and re.fullmatch(r"P\d{9}", pid) is not None and bool(buyer) and bool(seller))


def surname(name: str) -> str | None:
    return name.split(",", 1)[0] if PERSON.match(name) else None


def is_arms_length(deed: str, buyer: str, seller: str) -> bool:
    related = surname(buyer) is not None and surname(buyer) == surname(seller)
    return not (deed in ("QCD", "TRD") or related)


def sales_rows(files: dict[str, bytes]):
    """(key, sale date, header, list of (raw line, parsed fields)) per daily sales file."""
    for key in sorted(k for k in files if k.startswith("recorder/sales/")):
        lines = text(files[key], key).splitlines()
        sale_date = dt.datetime.strptime(key.rsplit("_", 1)[1][:8], "%Y%m%d").date().isoformat()
        yield key, sale_date, lines[0], [(line, next(csv.reader([line]))) for line in lines[1:]]


def events(files: dict[str, bytes]):
    for key in sorted(k for k in files if k.startswith("mls/listing_events/")):
        for line in text(files[key], key).splitlines():
            yield key, line, json.loads(line)


@pytest.fixture(scope="module")
def zone(tmp_path_factory) -> dict[str, bytes]:
    """Scale 3 over 400 days starting mid-November (start snapshot + one Jan-1 roll), all defects on."""
    root = tmp_path_factory.mktemp("zone")
    generate(LocalLanding(root), scale=3, seed=7, start=dt.date(2022, 11, 15), days=400, defects=DEFECTS)
    return read_zone(root)


# -- determinism -----------------------------------------------------------------------------------------------
def test_same_seed_and_scale_give_byte_identical_files(tmp_path):
    kwargs = dict(scale=1, seed=11, start=dt.date(2023, 3, 1), days=45, defects=DEFECTS)
    first = generate(LocalLanding(tmp_path / "a"), **kwargs)
    second = generate(LocalLanding(tmp_path / "b"), **kwargs)
    a, b = read_zone(tmp_path / "a"), read_zone(tmp_path / "b")
    assert a == b
    assert first.files == second.files == sorted(a)
    generate(LocalLanding(tmp_path / "c"), **{**kwargs, "seed": 12})
    assert read_zone(tmp_path / "c")["_truth/sales_truth.csv.gz"] != a["_truth/sales_truth.csv.gz"]
    assert gzip.decompress(a["_truth/sales_truth.csv.gz"])  # a deterministic gzip header: no mtime, no name
    assert a["_truth/sales_truth.csv.gz"][4:8] == b"\x00\x00\x00\x00"


def test_split_window_matches_one_run_for_the_overlapping_days(tmp_path):
    generate(LocalLanding(tmp_path / "one"), scale=2, seed=5, start=dt.date(2022, 1, 1), days=60, defects=DEFECTS)
    generate(LocalLanding(tmp_path / "two"), scale=2, seed=5, start=dt.date(2022, 1, 31), days=30, defects=DEFECTS)
    one, two = read_zone(tmp_path / "one"), read_zone(tmp_path / "two")
    start_snapshot = "assessor/parcels/2022/01/31/parcels_20220131.csv"
    start_events = "mls/listing_events/2022/01/31/events_20220131.jsonl"
    compared = 0
    for key, data in two.items():
        if key.startswith("_truth/") or key in (start_snapshot, start_events):
            continue
        assert one[key] == data, key
        compared += 1
    assert compared == 30 + 29 + 1  # sales files, event files after the start day, the 2022-01 index file
    assert start_snapshot in two and start_snapshot not in one
    # the start day's events file is the one-run file preceded by the bootstrap of already-active listings
    assert two[start_events].endswith(one[start_events])
    bootstrap = two[start_events][: len(two[start_events]) - len(one[start_events])].decode().splitlines()
    assert bootstrap
    for line in bootstrap:
        event = json.loads(line)
        assert event["event_at"] in ("2022-01-31T00:00:00Z", "2022-01-31T00:00:01Z")
        assert event["event_type"] in ("listed", "pending", "withdrawn")
    # the truth agrees on the overlapping days
    overlap = [row for row in sales_truth(one) if row["sale_date"] >= "2022-01-31"]
    assert overlap == sales_truth(two)


# -- formats ---------------------------------------------------------------------------------------------------
def test_assessor_snapshots(zone):
    snapshots = sorted(k for k in zone if k.startswith("assessor/"))
    assert snapshots == ["assessor/parcels/2022/11/15/parcels_20221115.csv", "assessor/parcels/2023/01/02/parcels_2023.csv"]
    doc = truth(zone)
    postcodes = {n["postcode"]: n["region_code"] for n in doc["neighbourhoods"]}
    by_year = {}
    for key in snapshots:
        lines = text(zone[key], key).splitlines()
        assert lines[0] == PARCEL_HEADER
        rows = list(csv.reader(lines[1:]))
        assert len(rows) == doc["counts"]["parcels"] == 3000
        ids = set()
        for row in rows:
            assert len(row) == 20
            r = dict(zip(PARCEL_HEADER.split(","), row, strict=True))
            assert re.fullmatch(r"P\d{9}", r["parcel_id"]) and r["parcel_id"] not in ids
            ids.add(r["parcel_id"])
            assert postcodes[r["postcode"]] == r["region_code"]
            assert re.fullmatch(r"-?\d+\.\d{6}", r["latitude"]) and re.fullmatch(r"-?\d+\.\d{6}", r["longitude"])
            assert 24 < float(r["latitude"]) < 49 and -125 < float(r["longitude"]) < -66
            assert r["property_class"] in {"SFR", "CND", "TWN", "MFR"}
            assert 1 <= int(r["bedrooms"]) <= 6 and 1900 <= int(r["year_built"]) <= 2021
            assert float(r["bathrooms"]) * 2 == int(float(r["bathrooms"]) * 2) and 1 <= float(r["bathrooms"]) <= 5
            assert 1 <= int(r["stories"]) <= 3 and 1 <= int(r["condition_code"]) <= 5
            assert 3 <= int(r["quality_grade"]) <= 12
            assert int(r["land_value"]) + int(r["improvement_value"]) == int(r["total_assessed_value"]) > 0
            assert int(r["land_sqft"]) >= 0 and int(r["living_sqft"]) >= 400
            assert r["roll_year"] == key[17:21] and r["situs_address"] and r["city"]
        by_year[key] = {row[0]: row for row in rows}
        classes = Counter(row[7] for row in rows)
        assert 0.58 < classes["SFR"] / len(rows) < 0.72 and 0.10 < classes["CND"] / len(rows) < 0.20
    # renovations show up in the later snapshot (never the other way round)
    early, late = by_year.values()
    grew = sum(int(late[p][9]) > int(early[p][9]) or int(late[p][14]) > int(early[p][14]) for p in early)
    assert all(int(late[p][9]) >= int(early[p][9]) for p in early)
    assert 1 <= grew < 0.02 * len(early)


def test_sales_files_formats_and_truth_counts(zone):
    doc = truth(zone)
    counts = doc["counts"]
    true_rows = {row["document_number"]: row for row in sales_truth(zone)}
    uncorrected = set(doc["files"]["uncorrected_sales_files"])
    valid = malformed = duplicates = files = 0
    flags = Counter()
    seen_sales = {}
    for key, sale_date, header, rows in sales_rows(zone):
        files += 1
        assert header == SALES_HEADER
        delivered = folder_date(key)
        assert 0 <= (delivered - dt.date.fromisoformat(sale_date)).days <= 15
        seen_lines: set[str] = set()
        for line, fields in rows:
            if line in seen_lines:
                duplicates += 1
                continue
            seen_lines.add(line)
            if not valid_sale(fields, sale_date):
                malformed += 1
                continue
            valid += 1
            doc_number, pid, _, recorded, price, deed, buyer, seller = fields
            assert dt.date.fromisoformat(recorded) <= delivered
            assert (f'"{buyer}"' in line) if "," in buyer else (buyer in line)  # minimal quoting
            if doc_number not in true_rows:
                assert key in uncorrected  # the spurious row of an erroneous, not yet corrected delivery
                continue
            row = true_rows[doc_number]
            assert (row["parcel_id"], row["sale_date"]) == (pid, sale_date)
            assert row["is_arms_length"] == ("true" if is_arms_length(deed, buyer, seller) else "false")
            flags[deed, row["is_arms_length"]] += 1
            if deed == "QCD":
                assert int(price) < 1000
            if key not in uncorrected:
                seen_sales[pid, sale_date] = int(price)
    assert files == counts["sales_files"] == 400
    assert valid == counts["sales"] + counts["spurious_rows"] == len(true_rows) + counts["spurious_rows"]
    assert malformed == counts["malformed_rows"] > 0
    assert duplicates == counts["duplicate_rows"] > 0
    assert counts["late_files"] == len(doc["files"]["late_sales_files"]) > 0
    assert counts["redelivered_files"] > 0
    assert counts["arms_length_sales"] == sum(row["is_arms_length"] == "true" for row in true_rows.values())
    non_arms = 1 - counts["arms_length_sales"] / counts["sales"]
    assert 0.04 < non_arms < 0.13
    assert flags["WD", "false"] > 0 and flags["QCD", "true"] == 0 and flags["TRD", "true"] == 0
    expected = 3 * 1000 * 400 / 1096
    assert 0.8 * expected < counts["sales"] < 1.2 * expected


def test_a_parcel_sells_at_most_once_per_180_days(zone):
    dates = defaultdict(list)
    for row in sales_truth(zone):
        dates[row["parcel_id"]].append(dt.date.fromisoformat(row["sale_date"]))
    gaps = [(b - a).days for d in dates.values() for a, b in zip(sorted(d), sorted(d)[1:], strict=False)]
    assert gaps and min(gaps) >= 180


def test_listing_events_are_chronological_and_close_at_the_sale_price(zone):
    doc = truth(zone)
    start, end = dt.date.fromisoformat(doc["start"]), dt.date.fromisoformat(doc["end"])
    prices = {}
    uncorrected = set(doc["files"]["uncorrected_sales_files"])
    for key, sale_date, _, rows in sales_rows(zone):
        for _, fields in rows:
            if key not in uncorrected and valid_sale(fields, sale_date):
                prices[fields[1], sale_date] = int(fields[4])
    arms = doc["counts"]["arms_length_sales"]
    history = defaultdict(list)
    ids = set()
    total = sold = 0
    for key, line, event in events(zone):
        total += 1
        assert list(event) == EVENT_KEYS
        assert line == json.dumps(event)
        assert event["event_id"] not in ids
        ids.add(event["event_id"])
        at = dt.datetime.strptime(event["event_at"], "%Y-%m-%dT%H:%M:%SZ")
        assert at.date() == folder_date(key) and start <= at.date() <= end
        assert key.endswith(f"events_{at:%Y%m%d}.jsonl")
        assert re.fullmatch(r"E\d+", event["event_id"]) and re.fullmatch(r"L\d+", event["listing_id"])
        assert re.fullmatch(r"P\d{9}", event["parcel_id"]) and re.fullmatch(r"A\d{5}", event["agent_id"])
        assert isinstance(event["list_price"], int) and event["list_price"] > 0
        assert isinstance(event["bathrooms"], float) and isinstance(event["bedrooms"], int)
        if event["event_type"] == "sold":
            sold += 1
            assert event["close_price"] == prices[event["parcel_id"], at.date().isoformat()]
        else:
            assert event["close_price"] is None
        history[event["listing_id"]].append((at, event["event_type"], event["list_price"]))
    assert total == doc["counts"]["listing_events"]
    assert 0.65 < sold / arms < 0.85
    endings = Counter()
    for steps in history.values():
        assert steps == sorted(steps, key=lambda step: step[0])
        kinds = [kind for _, kind, _ in steps]
        assert kinds[0] == "listed" and kinds.count("listed") == 1
        if "sold" in kinds:
            assert kinds[-1] == "sold" and kinds.index("pending") < kinds.index("sold")
        for (_, kind, price), (_, _, before) in zip(steps[1:], steps, strict=False):
            if kind == "price_change":
                assert 0.85 < price / before < 1
        endings[kinds[-1]] += 1
    assert endings["withdrawn"] > 0 and endings["sold"] == sold
    assert any("relisted" in [kind for _, kind, _ in steps] for steps in history.values())


def test_index_files_match_the_truth(zone):
    doc = truth(zone)
    start, end = dt.date.fromisoformat(doc["start"]), dt.date.fromisoformat(doc["end"])
    index_truth = {(r["region_code"], r["period_month"]): r["index_value"]
                   for r in csv.DictReader(io.StringIO(zone["_truth/index_monthly.csv"].decode()))}
    months = sorted({month for _, month in index_truth})
    # every month of the window, plus October 2022 (published on 2022-11-15, inside the window)
    assert months[0] == "2022-10-01" and months[-1] == "2023-12-01" and len(index_truth) == 6 * 15
    rows = 0
    for key in sorted(k for k in zone if k.startswith("hpi/")):
        published = folder_date(key)
        assert published.day == 15 and start <= published <= end
        lines = zone[key].decode().splitlines()
        assert lines[0] == INDEX_HEADER and len(lines) == 7
        period = (published.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        assert key.endswith(f"regional_index_{period:%Y%m}.csv")
        for line in lines[1:]:
            region, month, value, series = line.split(",")
            assert (month, series) == (period.isoformat(), "TMHPI") and re.fullmatch(r"\d+\.\d{4}", value)
            assert index_truth[region, month] == value
            rows += 1
    assert rows == doc["counts"]["index_rows"] == 6 * 14  # 2022-10 .. 2023-11 are published inside the window


def test_true_values_follow_the_documented_hedonic_formula(zone):
    doc = truth(zone)
    coef = doc["hedonic"]["coefficients"]
    classes = doc["hedonic"]["class_effects"]
    base = {r["region_code"]: r["base_ppsf"] for r in doc["regions"]}
    premium = {n["postcode"]: n["premium"] for n in doc["neighbourhoods"]}
    index = {(r["region_code"], r["period_month"]): float(r["index_value"])
             for r in csv.DictReader(io.StringIO(zone["_truth/index_monthly.csv"].decode()))}

    def rows(key):
        return {row["parcel_id"]: row for row in csv.DictReader(io.StringIO(zone[key].decode()))}

    early, late = rows("assessor/parcels/2022/11/15/parcels_20221115.csv"), rows("assessor/parcels/2023/01/02/parcels_2023.csv")
    checked = 0
    for sale in sales_truth(zone):
        p = early[sale["parcel_id"]]
        fields = ("living_sqft", "bedrooms", "condition_code")
        if sale["sale_date"] >= "2023-01-01" or any(p[f] != late[p["parcel_id"]][f] for f in fields):
            continue  # attributes known exactly only when no renovation happened in between
        age = max(0, int(sale["sale_date"][:4]) - int(p["year_built"]))
        log_value = (
            math.log(base[p["region_code"]]) + premium[p["postcode"]] + coef["intercept"]
            + coef["b_sqft"] * math.log(int(p["living_sqft"])) + coef["b_lot"] * math.log1p(int(p["land_sqft"]))
            + coef["b_bed"] * int(p["bedrooms"]) + coef["b_bath"] * float(p["bathrooms"])
            + coef["b_age"] * age + coef["b_age2"] * age**2 + coef["b_grade"] * (int(p["quality_grade"]) - 7)
            + coef["b_cond"] * (int(p["condition_code"]) - 3) + classes[p["property_class"]]
            + math.log(index[p["region_code"], sale["sale_date"][:7] + "-01"] / 100)
        )
        assert abs(math.exp(log_value) - int(sale["true_value"])) <= 1.0, sale
        checked += 1
    assert checked > 50


# -- noise floor, world ----------------------------------------------------------------------------------------
def test_noise_floor_is_near_the_theory(tmp_path):
    sigma = 0.05
    generate(LocalLanding(tmp_path), scale=8, seed=3, start=dt.date(2023, 4, 1), days=150, sigma=sigma)
    doc = truth(read_zone(tmp_path))
    assert doc["sigma"] == sigma and doc["counts"]["arms_length_sales"] > 900
    assert doc["noise_floor_mdape_theory"] == pytest.approx(0.6745 * sigma, rel=0.01)
    assert doc["noise_floor_mdape"] == pytest.approx(0.6745 * sigma, rel=0.12)
    eps = np.random.default_rng(0).normal(0, 0.3, 400_000)
    assert theoretical_mdape(0.3) == pytest.approx(np.median(np.abs(1 - np.exp(-eps))), rel=0.01)


def test_index_has_real_variation_in_every_24_month_window():
    for seed in (1, 42, 99):
        world = build_world(seed, 1)
        assert world.index.shape == (6, 552) and np.all(world.index[:, 0] == 100.0)
        log_index = np.log(world.index)
        worst = min(log_index[r, t : t + 24].std() for r in range(6) for t in range(552 - 24))
        assert worst > 0.008
        yearly = np.diff(log_index[:, ::12], axis=1).mean(axis=1)
        assert np.all((0.02 < yearly) & (yearly < 0.07))
    assert len({build_world(1, 1).nb_postcode.tobytes(), build_world(2, 1).nb_postcode.tobytes()}) == 2


# -- defects ---------------------------------------------------------------------------------------------------
class RecordingLanding(LocalLanding):
    """A local landing that remembers every write, in order."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.writes: list[tuple[str, bytes]] = []

    @contextlib.contextmanager
    def writer(self, key):
        with super().writer(key) as handle:
            yield handle
        self.writes.append((key, (self.root / key).read_bytes()))


def test_redelivery_rewrites_the_same_key_with_corrected_content(tmp_path):
    landing = RecordingLanding(tmp_path)
    generate(landing, scale=2, seed=9, start=dt.date(2022, 5, 1), days=60, defects=Defects(redelivery_rate=0.3))
    files = read_zone(tmp_path)
    doc = truth(files)
    versions = defaultdict(list)
    for key, data in landing.writes:
        versions[key].append(data)
    redelivered = doc["files"]["redelivered_sales_files"]
    assert redelivered and doc["counts"]["redelivered_files"] == len(redelivered)
    true_docs = {row["document_number"] for row in sales_truth(files)}
    for key in redelivered:
        first, final = versions[key]
        assert first != final and files[key] == final
        first_rows = text(first, key).splitlines()[1:]
        final_rows = text(final, key).splitlines()[1:]
        assert len(first_rows) == len(final_rows) + 1  # the spurious row is removed
        assert {r.split(",")[0] for r in final_rows} <= true_docs
        priced = sum(int(row.split(",")[4]) >= 1000 for row in final_rows)
        assert len(set(first_rows) - set(final_rows)) >= 1 + min(1, priced)  # spurious + corrected prices
    once = [key for key, v in versions.items() if key.startswith("recorder/") and len(v) == 1]
    assert len(once) + len(redelivered) == 60


def test_redelivery_across_calls_corrects_files_of_the_previous_call(tmp_path):
    defects = Defects(redelivery_rate=0.4)
    zone = LocalLanding(tmp_path / "zone")
    generate(zone, scale=2, seed=4, start=dt.date(2022, 3, 1), days=30, defects=defects)
    before = read_zone(tmp_path / "zone")
    pending = truth(before)["files"]["uncorrected_sales_files"]
    assert pending  # erroneous deliveries of the last 7 days wait for a correction
    generate(zone, scale=2, seed=4, start=dt.date(2022, 3, 31), days=20, defects=defects)
    after = read_zone(tmp_path / "zone")
    generate(LocalLanding(tmp_path / "single"), scale=2, seed=4, start=dt.date(2022, 3, 1), days=50, defects=defects)
    single = read_zone(tmp_path / "single")
    redelivered = truth(after)["files"]["redelivered_sales_files"]
    for key in pending:
        assert key in redelivered and after[key] != before[key] and after[key] == single[key]
    for key in before:
        if key.startswith("recorder/") and key not in pending:
            assert after[key] == before[key]


def test_late_files_land_in_later_date_folders(tmp_path):
    generate(LocalLanding(tmp_path / "on_time"), scale=1, seed=2, start=dt.date(2022, 7, 1), days=20)
    generate(LocalLanding(tmp_path / "late"), scale=1, seed=2, start=dt.date(2022, 7, 1), days=20,
             defects=Defects(late_rate=1.0))
    on_time = {k.rsplit("/", 1)[1]: k for k in read_zone(tmp_path / "on_time") if k.startswith("recorder/")}
    late_zone = read_zone(tmp_path / "late")
    late = {k.rsplit("/", 1)[1]: k for k in late_zone if k.startswith("recorder/")}
    assert on_time.keys() == late.keys() and len(late) == 20
    for name, key in late.items():
        assert 1 <= (folder_date(key) - folder_date(on_time[name])).days <= 5
        assert folder_date(key) > dt.datetime.strptime(name[6:14], "%Y%m%d").date()
    assert sorted(truth(late_zone)["files"]["late_sales_files"]) == sorted(late.values())


# -- S3, CLI, validation ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_generate_into_s3_through_moto(tmp_path, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bucket")
        landing = open_landing("s3://bucket/landing", endpoint_url=endpoint)
        kwargs = dict(scale=1, seed=8, start=dt.date(2022, 6, 10), days=10, defects=DEFECTS)
        summary = generate(landing, **kwargs)
        generate(LocalLanding(tmp_path), **kwargs)
        local = read_zone(tmp_path)
        objects = landing.list()
        assert [obj.key for obj in objects] == sorted(local) == summary.files
        for obj in objects:
            with landing.open(obj) as body:
                assert body.read() == local[obj.key], obj.key
        assert {obj.key.split("/")[0] for obj in objects} == {"assessor", "recorder", "mls", "hpi", "_truth"}
    finally:
        server.stop()


def test_cli_arguments_and_progress(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--scale", "1", "--seed", "3", "--start", "2024-02-10", "--days", "12",
                              "--duplicate-rate", "0.5", "--malformed-rate", "0.1", "--late-rate", "0",
                              "--redelivery-rate", "0.2"])
    assert args.start == dt.date(2024, 2, 10) and args.duplicate_rate == 0.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--late-rate", "1.5"])
    messages: list[str] = []
    summary = run_from_args(args, LocalLanding(tmp_path), progress=messages.append)
    doc = truth(read_zone(tmp_path))
    assert (doc["seed"], doc["scale"], doc["start"], doc["days"]) == (3, 1, "2024-02-10", 12)
    assert doc["defects"]["duplicate_rate"] == 0.5
    assert summary.parcels == 1000 and summary.sales == doc["counts"]["sales"] and summary.seconds > 0
    assert summary.truth_key == "_truth/truth.json" and summary.index_rows == 6
    assert summary.listing_events == doc["counts"]["listing_events"]
    assert any(m.startswith("2024-02:") for m in messages) and any("sales" in m for m in messages)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 0},
        {"seed": -1},
        {"days": 0},
        {"start": dt.date(1999, 12, 31)},
        {"start": dt.date(2045, 12, 1), "days": 60},
        {"defects": Defects(late_rate=1.2)},
    ],
)
def test_invalid_arguments_are_clear_errors(tmp_path, kwargs):
    with pytest.raises(TerraMinerError):
        generate(LocalLanding(tmp_path), **kwargs)
    assert not any(tmp_path.iterdir())
