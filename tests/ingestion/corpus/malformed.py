"""A corpus of malformed and hostile landing files, generated in memory at test time.

Every :class:`Case` is one file for one contract plus what the loader must do with it: load it
(possibly rejecting some rows), refuse it as a whole, or either (``expect=None``: both are
defensible, the invariants are checked anyway). ``verbatim`` lists values that must come back from
``raw.<table>`` exactly as written, which is how hostile strings are proven to be plain data.

Rows are built as lists of strings and serialised with the ``csv`` module unless the damage is in
the bytes themselves (quotes, encodings, compression), in which case the bytes are written by hand.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass

DAY = "2024/01/15"


@dataclass(frozen=True)
class Case:
    name: str  # file stem and pytest id
    contract: str
    ext: str  # csv | csv.gz | jsonl
    data: bytes
    expect: str | None  # loaded | refused | None (either)
    loaded: int | None = None  # exact rows the file puts in raw (None: only reconciled)
    rejected: int | None = None  # exact rejected rows (None: only reconciled)
    error: str | None = None  # substring of the one-line refusal error
    verbatim: tuple[tuple[str, str, str, str | None], ...] = ()  # (key column, key, column, exact value)
    reasons: tuple[tuple[int, str], ...] = ()  # (line_number, substring of the reject reason)
    countable: bool = True  # an independent csv/json record count applies
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.contract.replace('__', '/', 1)}/{DAY}/{self.name}.{self.ext}"


# ------------------------------------------------------------------ serialisation helpers
def csv_field(value: str, delimiter: str = ",") -> str:
    """RFC 4180 quoting: quote a field holding the delimiter, a quote, CR or LF (the csv module
    does not quote a bare CR unless it is part of the line terminator)."""
    if any(ch in value for ch in (delimiter, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def csv_text(rows: list[list[str]], eol: str = "\n") -> str:
    return "".join(",".join(map(csv_field, row)) + eol for row in rows)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


# ------------------------------------------------------------------ King County (csv, header)
KC_COLUMNS = [
    "id", "date", "price", "bedrooms", "bathrooms", "sqft_living", "sqft_lot", "floors", "waterfront", "view",
    "condition", "grade", "sqft_above", "sqft_basement", "yr_built", "yr_renovated", "zipcode", "lat", "long",
    "sqft_living15", "sqft_lot15",
]


def kc_values(i: int, **over: str) -> list[str]:
    row = {
        "id": f"{7129300000 + i:010d}", "date": "20141013T000000", "price": "221900", "bedrooms": "3",
        "bathrooms": "1", "sqft_living": "1180", "sqft_lot": "5650", "floors": "1", "waterfront": "0", "view": "0",
        "condition": "3", "grade": "7", "sqft_above": "1180", "sqft_basement": "0", "yr_built": "1955",
        "yr_renovated": "0", "zipcode": "98178", "lat": "47.5112", "long": "-122.257", "sqft_living15": "1340",
        "sqft_lot15": "5650",
    }
    row.update(over)
    return [row[c] for c in KC_COLUMNS]


def kc_file(rows: list[list[str]], header: list[str] | None = None, eol: str = "\n") -> bytes:
    return csv_text([header or KC_COLUMNS, *rows], eol).encode()


def kc_good(n: int, start: int = 0) -> list[list[str]]:
    return [kc_values(i) for i in range(start, start + n)]


# ------------------------------------------------------------------ recorder (csv.gz)
REC_COLUMNS = [
    "document_number", "parcel_id", "sale_date", "recording_date", "sale_price", "deed_type", "buyer_name",
    "seller_name",
]


def rec_values(doc: str, **over: str) -> list[str]:
    row = {
        "document_number": doc, "parcel_id": "P000000001", "sale_date": "2024-01-15",
        "recording_date": "2024-01-17", "sale_price": "303700", "deed_type": "WD", "buyer_name": "DUNN, MASON R",
        "seller_name": "DUNN, EMILY G",
    }
    row.update(over)
    return [row[c] for c in REC_COLUMNS]


def rec_file(rows: list[list[str]], header: list[str] | None = None) -> bytes:
    return gz(csv_text([header or REC_COLUMNS, *rows]).encode())


# Strings an attacker (or a careless export) could put in a value. All fit varchar(128).
HOSTILE_VALUES = [
    "Robert'); DROP TABLE raw.recorder__sales; --",
    'x"; drop table ingestion_meta.load_ledger; --',
    "$$; drop schema raw cascade; $$",
    "'; select pg_sleep(30); --",
    "\\N",
    "\\.",
    "NULL",
    "a\\tb\\nc\\\\",
    "C:\\dir\\",
    "tab\there",
    "\x01\x02\x1b[31mred\x1b[0m\x7f\x08",
    "\u202eevil\u202c \u200fRLM \u200eLRM",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "\U0001f3e0\U0001f4b0 \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "O'Brien \"Bob\" ''quoted''",
    "  padded  ",
    "%s %(x)s {0} ${x} `id`",
    "<script>alert(1)</script>",
    "e\u0301 \ufeffbom-inside \u00a0nbsp",
    "\u2028line-sep\u2029para-sep",
    "cr\ronly",
]
# Need the parsing path (a quoted newline makes the fast path fall back).
HOSTILE_MULTILINE = ["line1\nline2", "crlf\r\ninside", "\n", "ends with newline\n"]


# ------------------------------------------------------------------ MLS (jsonl)
def mls_event(i: int, **over) -> dict:
    event = {
        "event_id": f"E{i:08d}", "listing_id": f"L{i:06d}", "parcel_id": f"P{i:09d}", "event_type": "listed",
        "event_at": "2024-01-15T10:00:00Z", "list_price": 500000, "close_price": None, "bedrooms": 3,
        "bathrooms": 2.5, "living_sqft": 1500, "agent_id": "A00001",
    }
    event.update(over)
    return event


def jsonl(lines: list, eol: str = "\n") -> bytes:
    out = []
    for line in lines:
        out.append(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False))
    return (eol.join(out) + eol).encode()


# ------------------------------------------------------------------ UK price paid (header-less csv)
def uk_values(tid: str, **over: str) -> list[str]:
    row = {
        "transaction_id": f"{{{tid}}}", "price": "250000", "date": "2024-01-15 00:00", "postcode": "PO30 1AA",
        "property_type": "T", "old_new": "N", "duration": "F", "paon": "1", "saon": "", "street": "HIGH ST",
        "locality": "", "town_city": "NEWPORT", "district": "ISLE OF WIGHT", "county": "ISLE OF WIGHT",
        "ppd_category": "A", "record_status": "A",
    }
    row.update(over)
    return list(row.values())


def uk_file(rows: list[list[str]]) -> bytes:
    return "".join(",".join('"' + v.replace('"', '""') + '"' for v in row) + "\n" for row in rows).encode()


# ------------------------------------------------------------------ NYC DOF rolling sales
NYC_NOTICES = [
    "Bronx Rolling Sales File.  All Sales From  September 2019 - August 2020,,,,,,,,,,,,,,,,,,,,",
    '"For sales prior to the Final, Neighborhood Name reflect the Final Roll",,,,,,,,,,,,,,,,,,,,',
    "Building Class Category is based on Building Class at Time of Sale.,,,,,,,,,,,,,,,,,,,,",
    "Note: Condominium and cooperative sales are on the unit level.,,,,,,,,,,,,,,,,,,,,",
]
NYC_COLUMNS = [
    "BOROUGH", "NEIGHBORHOOD", "BUILDING CLASS CATEGORY", "TAX CLASS AT PRESENT", "BLOCK", "LOT", "EASE-MENT",
    "BUILDING CLASS AT PRESENT", "ADDRESS", "APARTMENT NUMBER", "ZIP CODE", "RESIDENTIAL UNITS",
    "COMMERCIAL UNITS", "TOTAL UNITS", "LAND SQUARE FEET", "GROSS SQUARE FEET", "YEAR BUILT",
    "TAX CLASS AT TIME OF SALE", "BUILDING CLASS AT TIME OF SALE", " SALE PRICE ", "SALE DATE",
]


def nyc_values(lot: int, **over: str) -> list[str]:
    row = {
        "BOROUGH": "2", "NEIGHBORHOOD": "BATHGATE", "BUILDING CLASS CATEGORY": "01 ONE FAMILY DWELLINGS",
        "TAX CLASS AT PRESENT": "1", "BLOCK": "3030", "LOT": str(lot), "EASE-MENT": "",
        "BUILDING CLASS AT PRESENT": "A1", "ADDRESS": f"{4400 + lot} PARK AVENUE", "APARTMENT NUMBER": "",
        "ZIP CODE": "10457", "RESIDENTIAL UNITS": "1", "COMMERCIAL UNITS": "0", "TOTAL UNITS": "1",
        "LAND SQUARE FEET": "1,622", "GROSS SQUARE FEET": "1,587", "YEAR BUILT": "1899",
        "TAX CLASS AT TIME OF SALE": "1", "BUILDING CLASS AT TIME OF SALE": "A1", " SALE PRICE ": "458,000",
        "SALE DATE": "1/31/2020",
    }
    row.update(over)
    return [row[c] for c in NYC_COLUMNS]


def nyc_file(rows: list[list[str]], blank_tail: int = 3, notices: list[str] | None = None) -> bytes:
    notices = NYC_NOTICES if notices is None else notices
    body = "".join(n + "\n" for n in notices) + csv_text([NYC_COLUMNS, *rows])
    body += ("," * 20 + "\n") * blank_tail
    return body.encode()


# ------------------------------------------------------------------ Zillow ZHVI (wide → long)
ZHVI_IDS = ["RegionID", "SizeRank", "RegionName", "RegionType", "StateName"]


def zhvi_file(months: list[str], rows: list[list[str]], extra_ids: list[str] | None = None) -> bytes:
    return csv_text([[*(extra_ids or ZHVI_IDS), *months], *rows]).encode()


# ------------------------------------------------------------------ the corpus
def _kc_cases() -> list[Case]:
    c = "king_county__sales"
    hostile_header = [*KC_COLUMNS, 'price"; drop table raw.x; --', "\"'; select pg_sleep(30); --", "\\N",
                      "\U0001f3e0 emoji", "x" * 2000, ""]
    long_value = "9" * (1 << 20)
    return [
        Case("kc_clean", c, "csv", kc_file(kc_good(5)), "loaded", 5, 0),
        Case("kc_wrong_types", c, "csv", kc_file([
            *kc_good(3),
            kc_values(10, price="abc"), kc_values(11, bedrooms="three"), kc_values(12, sqft_living="12.5"),
            kc_values(13, lat="north"), kc_values(14, waterfront="yes"), kc_values(15, floors="1..5"),
        ]), "loaded", 3, 6, reasons=((5, "numeric"), (6, "smallint"), (7, "integer"))),
        Case("kc_overflow", c, "csv", kc_file([
            *kc_good(2),
            kc_values(20, bedrooms="99999"),  # smallint
            kc_values(21, sqft_living="99999999999"),  # integer
            kc_values(22, price="1e20"),  # numeric(14,2)
            kc_values(23, price="1234567890123"),  # 13 integer digits > 12
            kc_values(24, lat="1234.5"),  # numeric(9,6)
            kc_values(25, price="-99999999999999999999999999999999999999"),
            kc_values(26, yr_built="32768"),
        ]), "loaded", 2, 7, reasons=((4, "out of range"), (6, "overflow"))),
        Case("kc_impossible_dates", c, "csv", kc_file([
            *kc_good(2),
            kc_values(30, date="20240230T000000"), kc_values(31, date="20241301T000000"),
            kc_values(32, date="20240000T000000"), kc_values(33, date="2024-02-30"),
            kc_values(34, date="not a date"),
        ]), "loaded", 2, 5, reasons=((4, "out of range"),)),
        Case("kc_bom", c, "csv", b"\xef\xbb\xbf" + kc_file(kc_good(4)), "loaded", 4, 0),
        Case("kc_crlf", c, "csv", kc_file(kc_good(4), eol="\r\n"), "loaded", 4, 0),
        Case("kc_bom_crlf_no_final_newline", c, "csv",
             b"\xef\xbb\xbf" + kc_file(kc_good(3), eol="\r\n").rstrip(b"\r\n"), "loaded", 3, 0),
        Case("kc_embedded_newlines_and_quotes", c, "csv", kc_file([
            kc_values(40, id='12"34', zipcode="98\n103"),
            kc_values(41, id="a,b", zipcode='"q"'),
            kc_values(42, id="multi\r\nline"),
            *kc_good(2, 43),
        ]), "loaded", 5, 0, verbatim=(
            ("parcel_id", '12"34', "zipcode", "98\n103"),
            ("parcel_id", "a,b", "zipcode", '"q"'),
            ("parcel_id", "multi\r\nline", "zipcode", "98178"),
        )),
        Case("kc_nul_byte", c, "csv", kc_file([*kc_good(3), kc_values(50, zipcode="98\x00178")]),
             "loaded", 3, 1, reasons=((5, "NUL"),)),
        Case("kc_invalid_utf8", c, "csv",
             kc_file(kc_good(3)) + b'"0000000051","20141013T000000",1,3,1,1,1,"1",0,0,3,7,1,0,1955,0,"98\xff\xfe1",'
             b"47.5,-122.2,1,1\n", "loaded", 3, 1, reasons=((5, "invalid utf-8 byte 0xff"),)),
        Case("kc_empty", c, "csv", b"", "refused", error="file is empty"),
        Case("kc_blank_only", c, "csv", b"\n\n\r\n", "refused", error="file is empty"),
        Case("kc_header_only", c, "csv", kc_file([]), "loaded", 0, 0),
        Case("kc_header_only_no_newline", c, "csv", kc_file([]).rstrip(b"\n"), "loaded", 0, 0),
        Case("kc_blank_lines", c, "csv",
             kc_file([]) + b"\n" + csv_text(kc_good(2)).encode() + b"\n\n" + csv_text(kc_good(2, 2)).encode()
             + b"\n\n", "loaded", 4, 0),
        Case("kc_missing_required_column", c, "csv",
             kc_file([[v for h, v in zip(KC_COLUMNS, kc_values(1), strict=True) if h != "price"]],
                     [h for h in KC_COLUMNS if h != "price"]), "refused", error="missing required column(s) price"),
        Case("kc_missing_nullable_column", c, "csv",
             kc_file([r[:-1] for r in kc_good(3)], KC_COLUMNS[:-1]), "loaded", 3, 0),
        Case("kc_extra_columns", c, "csv",
             kc_file([[*r, "extra", "1"] for r in kc_good(3)], [*KC_COLUMNS, "notes", "flag"]), "loaded", 3, 0),
        Case("kc_renamed_column", c, "csv",
             kc_file(kc_good(2), [("sale_price" if h == "price" else h) for h in KC_COLUMNS]), "refused",
             error="missing required column(s) price"),
        Case("kc_header_case_and_padding", c, "csv",
             kc_file(kc_good(2), [f" {h.upper()} " for h in KC_COLUMNS]), "loaded", 2, 0),
        Case("kc_duplicate_header", c, "csv",
             kc_file([[*r, "1"] for r in kc_good(2)], [*KC_COLUMNS, "grade"]), "refused",
             error="duplicate column names in header: grade"),
        Case("kc_hostile_header_extra", c, "csv",
             kc_file([[*r, "a", "b", "c", "d", "e", "f"] for r in kc_good(3)], hostile_header), "loaded", 3, 0),
        Case("kc_hostile_header_replaces_required", c, "csv",
             kc_file(kc_good(2), [('price"; drop table raw.king_county__sales; --' if h == "price" else h)
                                  for h in KC_COLUMNS]), "refused", error="missing required column(s) price"),
        Case("kc_wrong_field_count", c, "csv",
             kc_file(kc_good(3)) + b"1,2,3\n" + csv_text([[*kc_values(60), "extra"]]).encode() + b"\\.\n",
             "loaded", 3, 3, reasons=((5, "expected 21 fields, found 3"), (6, "found 22"), (7, "found 1"))),
        Case("kc_unbalanced_quote", c, "csv", kc_file(kc_good(3)) + b'"0000000070,"20141013T000000",1\n',
             None, note="an unterminated quote swallows the rest of the file: one bad record or a refusal"),
        Case("kc_control_chars_and_backslashes", c, "csv", kc_file([
            kc_values(80, id="\\N"), kc_values(81, id="\\."), kc_values(82, id="C:\\x\\"),
            kc_values(83, id="\x01\x1b\x7f\t"), kc_values(84, id="\u200f\u202e\U0001f3e0"),
            kc_values(85, id="NULL"),
        ]), "loaded", 6, 0, verbatim=(
            ("parcel_id", "\\N", "zipcode", "98178"), ("parcel_id", "\\.", "zipcode", "98178"),
            ("parcel_id", "C:\\x\\", "zipcode", "98178"), ("parcel_id", "\x01\x1b\x7f\t", "zipcode", "98178"),
            ("parcel_id", "\u200f\u202e\U0001f3e0", "zipcode", "98178"), ("parcel_id", "NULL", "zipcode", "98178"),
        )),
        Case("kc_end_of_copy_marker_line", c, "csv",
             kc_file(kc_good(2)) + b"\\.\n" + csv_text(kc_good(2, 2)).encode(), "loaded", 4, 1,
             note="a line '\\.' must not end COPY early (rows after it must load)"),
        Case("kc_megabyte_field", c, "csv", kc_file([*kc_good(2), kc_values(90, zipcode=long_value)]),
             "loaded", 2, 1, reasons=((4, "too long"),)),
        Case("kc_megabyte_extra_column", c, "csv",
             kc_file([[*r, long_value] for r in kc_good(2)], [*KC_COLUMNS, "blob"]), "loaded", 2, 0),
        Case("kc_latin1", c, "csv", kc_file([kc_values(95, id="JOS\xc9")]).decode().encode("latin-1")
             + csv_text(kc_good(40)).encode(), "loaded", 40, 1, reasons=((2, "invalid utf-8 byte 0xc9"),)),
        Case("kc_too_many_rejects", c, "csv", kc_file([*kc_good(5), *[kc_values(i, price="n/a")
                                                                      for i in range(100, 120)]]),
             "refused", rejected=20, error="rows rejected"),
        Case("kc_gzip", c, "csv.gz", gz(kc_file(kc_good(7))), "loaded", 7, 0),
    ]


def _rec_cases() -> list[Case]:
    c = "recorder__sales"
    raw_clean = csv_text([REC_COLUMNS, *[rec_values(f"D{i:04d}") for i in range(30)]]).encode()
    packed = gz(raw_clean)
    corrupt_header = bytearray(packed)
    corrupt_header[0:3] = b"PK\x03"
    corrupt_middle = bytearray(packed)
    for i in range(20, len(corrupt_middle) - 12, 7):
        corrupt_middle[i] ^= 0x55
    latin = csv_text([REC_COLUMNS, *[rec_values(f"L{i:03d}", buyer_name="JOS\xc9 MU\xd1OZ") for i in range(20)]])
    hostile_rows = [rec_values(f"H{i:03d}", buyer_name=v, seller_name=v[::-1]) for i, v in enumerate(HOSTILE_VALUES)]
    multi_rows = [rec_values(f"M{i:03d}", buyer_name=v) for i, v in enumerate(HOSTILE_MULTILINE)]
    return [
        Case("rec_clean", c, "csv.gz", packed, "loaded", 30, 0),
        Case("rec_hostile_values", c, "csv.gz", rec_file(hostile_rows), "loaded", len(hostile_rows), 0,
             verbatim=tuple(
                 item for i, v in enumerate(HOSTILE_VALUES)
                 for item in (("document_number", f"H{i:03d}", "buyer_name", v),
                              ("document_number", f"H{i:03d}", "seller_name", v[::-1]))
             )),
        Case("rec_hostile_values_parsing_path", c, "csv.gz",
             rec_file([*multi_rows, *hostile_rows, rec_values("BAD1", sale_price="free")]), "loaded",
             len(multi_rows) + len(hostile_rows), 1,
             verbatim=tuple(("document_number", f"M{i:03d}", "buyer_name", v) for i, v in enumerate(HOSTILE_MULTILINE))
             + tuple(("document_number", f"H{i:03d}", "buyer_name", v) for i, v in enumerate(HOSTILE_VALUES))),
        Case("rec_truncated_gzip", c, "csv.gz", packed[: len(packed) // 2], "refused", error="truncated gzip"),
        Case("rec_truncated_gzip_tail", c, "csv.gz", packed[:-4], "refused", error="gzip"),
        Case("rec_corrupt_gzip_header", c, "csv.gz", bytes(corrupt_header), "refused", error="gzip"),
        Case("rec_corrupt_gzip_body", c, "csv.gz", bytes(corrupt_middle), "refused", error="gzip"),
        Case("rec_plain_csv_named_gz", c, "csv.gz", raw_clean, "refused", error="gzip"),
        Case("rec_zero_bytes_gz", c, "csv.gz", b"", "refused", error="file is empty"),
        Case("rec_gzip_of_nothing", c, "csv.gz", gz(b""), "refused", error="file is empty"),
        Case("rec_multi_member_gzip", c, "csv.gz",
             gz(csv_text([REC_COLUMNS, rec_values("G001")]).encode()) + gz(csv_text([rec_values("G002")]).encode()),
             "loaded", 2, 0),
        Case("rec_raw_deflate", c, "csv.gz", zlib.compress(raw_clean), "refused", error="gzip"),
        Case("rec_latin1_file", c, "csv.gz", gz(latin.encode("latin-1")), "refused", rejected=20,
             error="latin-1"),
        Case("rec_impossible_dates", c, "csv.gz", rec_file([
            *[rec_values(f"T{i:03d}") for i in range(3)],
            rec_values("T100", sale_date="2024-02-30"), rec_values("T101", sale_date="2024-13-01"),
            rec_values("T102", sale_date="2023-02-29"), rec_values("T103", recording_date="2024-04-31"),
            rec_values("T104", sale_date="0000-01-01"),
        ]), "loaded", 3, 5, reasons=((5, "out of range"), (6, "out of range"))),
        Case("rec_numeric_edge_cases", c, "csv.gz", rec_file([
            rec_values("N001", sale_price="1e15"), rec_values("N002", sale_price="1,000"),
            rec_values("N003", sale_price="Infinity"), rec_values("N004", sale_price="$100"),
            rec_values("N005", sale_price="123.456"), rec_values("N006", sale_price="-0"),
            rec_values("N007", sale_price=" 42 "), rec_values("N008", sale_price="0x10"),
            *[rec_values(f"N1{i:02d}") for i in range(30)],
        ]), "loaded", rejected=None,
             verbatim=(("document_number", "N005", "sale_price", "123.46"),
                       ("document_number", "N006", "sale_price", "0.00"))),
        Case("rec_required_empty", c, "csv.gz", rec_file([
            *[rec_values(f"R{i:03d}") for i in range(20)],
            rec_values("", parcel_id="P1"), rec_values("R900", sale_price=""), rec_values("R901", sale_date=""),
        ]), "loaded", 20, 3, reasons=((22, "required value is empty"),)),
    ]


def _mls_cases() -> list[Case]:
    c = "mls__listing_events"
    good = [mls_event(i) for i in range(20)]
    return [
        Case("mls_clean", c, "jsonl", jsonl(good[:5]), "loaded", 5, 0),
        Case("mls_invalid_json", c, "jsonl", jsonl([
            *good, "{not json", '{"event_id": "E1",}', "{'event_id': 'E2'}", '{"event_id": "E3"',
            '{"event_id": "E4"} trailing',
        ]), "loaded", 20, 5, reasons=((21, "invalid JSON"),)),
        Case("mls_not_objects", c, "jsonl", jsonl([*good, "[1, 2, 3]", '"a string"', "42", "null", "true",
                                                   json.dumps([mls_event(99)])]),
             "loaded", 20, 6, reasons=((21, "expected a JSON object, found list"), (24, "found NoneType"))),
        Case("mls_wrong_types", c, "jsonl", jsonl([
            *good,
            mls_event(100, list_price="abc"), mls_event(101, bedrooms=3.5), mls_event(102, bedrooms=True),
            mls_event(103, living_sqft={"a": 1}), mls_event(104, event_at="2024-02-30T10:00:00Z"),
            mls_event(105, list_price=1e400), mls_event(106, bedrooms=[1, 2]),
            mls_event(107, living_sqft=10**30), mls_event(108, event_at=12345),
        ]), "loaded", 20, 9),
        Case("mls_missing_required", c, "jsonl", jsonl([
            *good, {k: v for k, v in mls_event(200).items() if k != "event_id"}, mls_event(201, parcel_id=None),
            mls_event(202, event_type=""),
        ]), "loaded", 20, 3, reasons=((21, "required value is empty"),)),
        Case("mls_nul_and_invalid_utf8", c, "jsonl",
             jsonl([*good, mls_event(300, agent_id="A\x00B")]) + b'{"event_id": "E00000301", "listing_id": "L\xff",'
             b' "parcel_id": "P1", "event_type": "listed", "event_at": "2024-01-15T10:00:00Z"}\n',
             "loaded", 20, 2, reasons=((21, "NUL"), (22, "invalid utf-8"))),
        Case("mls_blank_lines_crlf_bom", c, "jsonl",
             b"\xef\xbb\xbf" + jsonl(good[:3], eol="\r\n") + b"\r\n   \r\n\t\n" + jsonl(good[3:6], eol="\r\n"),
             "loaded", 6, 0),
        Case("mls_empty", c, "jsonl", b"", "loaded", 0, 0),
        Case("mls_hostile_values", c, "jsonl", jsonl([
            mls_event(400, listing_id="'; drop table raw.x;--"), mls_event(401, parcel_id="\\N"),
            mls_event(402, listing_id="\U0001f3e0\u202e\u200f"), mls_event(403, listing_id="a\tb\nc\rd\\"),
            mls_event(404, listing_id="\u2028\u2029"),
        ]), "loaded", 5, 0, verbatim=(
            ("event_id", "E00000400", "listing_id", "'; drop table raw.x;--"),
            ("event_id", "E00000401", "parcel_id", "\\N"),
            ("event_id", "E00000402", "listing_id", "\U0001f3e0\u202e\u200f"),
            ("event_id", "E00000403", "listing_id", "a\tb\nc\rd\\"),
            ("event_id", "E00000404", "listing_id", "\u2028\u2029"),
        )),
        Case("mls_megabyte_line", c, "jsonl", jsonl([*good, mls_event(500, agent_id="x" * (1 << 20))]),
             "loaded", 20, 1, reasons=((21, "too long"),)),
    ]


def _uk_cases() -> list[Case]:
    c = "uk_land_registry__price_paid"
    return [
        Case("uk_clean", c, "csv", uk_file([uk_values(f"UKCLEAN-{i}") for i in range(4)]), "loaded", 4, 0),
        Case("uk_too_few_fields", c, "csv", uk_file([
            *[uk_values(f"UKFEW-{i}") for i in range(20)],
            uk_values("UKFEW-X")[:3], uk_values("UKFEW-Y")[:15], ["{UKFEW-Z}"],
        ]), "loaded", 20, 3, reasons=((21, "expected at least 16 fields, found 3"), (22, "found 15"))),
        Case("uk_bad_values", c, "csv", uk_file([
            *[uk_values(f"UKBAD-{i}") for i in range(20)],
            uk_values("UKBAD-X", date="2024-02-30 00:00"), uk_values("UKBAD-Y", price="12,000"),
            uk_values("UKBAD-Z", record_status="XX"),
        ]), "loaded", 20, 3),
        Case("uk_hostile_values", c, "csv", uk_file([
            uk_values(f"UKHOST-{i}", paon=v) for i, v in enumerate([*HOSTILE_VALUES, *HOSTILE_MULTILINE])
        ]), "loaded", len(HOSTILE_VALUES) + len(HOSTILE_MULTILINE), 0, verbatim=tuple(
            ("transaction_id", f"{{UKHOST-{i}}}", "paon", v)
            for i, v in enumerate([*HOSTILE_VALUES, *HOSTILE_MULTILINE])
        )),
        Case("uk_empty", c, "csv", b"", "loaded", 0, 0),
        Case("uk_bom_crlf", c, "csv", b"\xef\xbb\xbf" + uk_file([uk_values(f"UKBOM-{i}") for i in range(3)])
             .replace(b"\n", b"\r\n"), "loaded", 3, 0),
    ]


def _nyc_cases() -> list[Case]:
    c = "nyc_dof__rolling_sales"
    good = [nyc_values(i) for i in range(1, 21)]
    return [
        Case("nyc_clean", c, "csv", nyc_file(good[:5]), "loaded", 5, 0),
        Case("nyc_too_short_for_notices", c, "csv", ("\n".join(NYC_NOTICES[:3]) + "\n").encode(), "refused",
             error="file is empty"),
        Case("nyc_bad_values", c, "csv", nyc_file([
            *good,
            nyc_values(100, **{"SALE DATE": "2/30/2020"}), nyc_values(101, **{"SALE DATE": "13/01/2020"}),
            nyc_values(102, **{" SALE PRICE ": "$1,000"}), nyc_values(103, **{"LAND SQUARE FEET": "12.5.6"}),
            nyc_values(104, **{"LAND SQUARE FEET": "99,999,999,999,999,999,999"}),
            nyc_values(105, BLOCK=""),
        ]), "loaded", 20, 6, reasons=((30, "out of range"),)),
        Case("nyc_crlf_bom_blank_rows_in_middle", c, "csv",
             b"\xef\xbb\xbf" + nyc_file([*good[:3], [""] * 21, *good[3:6]], blank_tail=2).replace(b"\n", b"\r\n"),
             "loaded", 6, 0),
        Case("nyc_missing_required", c, "csv",
             nyc_file(good[:2]).replace(b"BLOCK,", b"BLOK,", 1), "refused", error="missing required column(s) BLOCK"),
    ]


def _zillow_cases() -> list[Case]:
    c = "zillow__zhvi"
    months = ["2024-01-31", "2024-02-29", "2024-03-31"]
    return [
        Case("zhvi_clean", c, "csv", zhvi_file(months, [
            ["102001", "0", "United States", "country", "", "100.5", "101.5", "102.5"],
            ["394913", "1", "New York, NY", "msa", "NY", "500000", "", "501000.25"],
        ]), "loaded", 5, 0, countable=False),
        Case("zhvi_bad_cells", c, "csv", zhvi_file(months, [
            ["102001", "0", "United States", "country", "", "100.5", "abc", "1e99"],
            ["x", "1", "New York, NY", "msa", "NY", "1", "2", "3"],
            ["394914", "2", "Short row"],
            *[[str(400000 + i), str(i), f"Metro {i}", "msa", "ZZ", "1", "2", "3"] for i in range(10)],
        ]), "loaded", 31, None, countable=False),
        Case("zhvi_no_value_columns", c, "csv", zhvi_file(["Jan 2024"], [["1", "0", "US", "country", "", "1"]]),
             "refused", error="no value columns", countable=False),
        Case("zhvi_impossible_month", c, "csv", zhvi_file(["2024-02-30", "2024-13-31", "2024-01-31"], [
            [str(500000 + i), str(i), f"Metro {i}", "msa", "ZZ", "1", "2", "3"] for i in range(40)
        ]), "refused", error="rows rejected", countable=False),
    ]


def _fred_cases() -> list[Case]:
    c = "fred__case_shiller"
    rows = [["2024-01-01", "310.5"], ["2024-02-01", "."], ["2024-03-01", "312.25"]]
    return [
        Case("fred_current_header", c, "csv", csv_text([["DATE", "SEXRNSA"], *rows]).encode(), "loaded", 2, 0,
             countable=False),
        Case("fred_old_header_alias", c, "csv", csv_text([["observation_date", "SEXRNSA"], *rows]).encode(),
             "loaded", 2, 0, countable=False, note="observation_date is a declared alias of DATE"),
        Case("fred_renamed_without_alias", c, "csv", csv_text([["obs_date", "SEXRNSA"], *rows]).encode(),
             "refused", error="missing required column DATE", countable=False),
    ]


def cases() -> list[Case]:
    everything = [*_kc_cases(), *_rec_cases(), *_mls_cases(), *_uk_cases(), *_nyc_cases(), *_zillow_cases(),
                  *_fred_cases()]
    names = [c.name for c in everything]
    assert len(names) == len(set(names)), "case names must be unique"
    return everything


def write(root, selected: list[Case]) -> None:
    """Write the cases into a local landing folder ``root``."""
    from pathlib import Path

    for case in selected:
        path = Path(root) / case.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data)


__all__ = ["Case", "HOSTILE_MULTILINE", "HOSTILE_VALUES", "cases", "write"]
