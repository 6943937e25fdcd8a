"""Malformed and hostile landing files: the loader never crashes, never loses or invents a row.

The whole corpus (``corpus/malformed.py``: ~80 files over six contracts) lands in one landing zone
and goes through ONE ``terraminer ingest`` subprocess, exactly as a user runs it. Then every file is
checked on its own (one pytest item per file):

- the ledger has one row for it, ``loaded`` or ``refused`` (as the case expects);
- loaded: ``rows_read = rows_loaded + rows_rejected``; ``raw`` holds exactly ``rows_loaded`` rows
  of that file; every rejected row has a line number, a reason and its raw text;
- refused: a one-line error and nothing in ``raw``;
- an independent count (Python ``csv``/``json`` over the same bytes) of the file's records equals
  ``rows_read``, and the source lines of loaded rows plus rejected lines are exactly the record
  start lines: every physical record is accounted for, once (blank lines are not records);
- hostile strings come back from ``raw`` byte for byte, and nothing outside the expected tables
  changed (sentinel tables, including the ``raw.x`` that an injection string names, survive).

Cases that once crashed the loader (a crash aborts the batch) have their own small ingest runs at
the bottom, each next to a clean file that must still load.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import checks, malformed
from corpus.malformed import Case, jsonl, kc_file, kc_good, kc_values, mls_event, rec_values

from ingestion.contract import load_contracts
from ingestion.parsing import MAX_FIELD_BYTES

csv.field_size_limit(MAX_FIELD_BYTES)  # the loader's own limit (importing ingestion.parsing sets it too)

CASES = malformed.cases()
CONTRACTS = load_contracts(names=sorted({c.contract for c in CASES}))
SENTINELS = {"raw.x": 3, "public.sentinel": 2}
REFERENCE_DAY = "2023/12/31"  # one clean file per contract loaded first, so every raw table pre-exists


@dataclass
class CorpusRun:
    returncode: int
    stdout: str
    stderr: str
    ledger: dict[str, tuple]  # file_key -> (load_id, status, rows_read, rows_loaded, rows_rejected, error)
    rejects: dict[str, list[tuple]]  # file_key -> [(line_number, column_name, reason, value, raw_text)]
    before: dict[str, int]  # table -> rows, before the corpus run
    after: dict[str, int]


def _tables(conn) -> dict[str, int]:
    """Every user table (outside pg_catalog/information_schema) with its row count."""
    names = [
        f"{s}.{t}"
        for s, t in conn.execute(
            "select schemaname, tablename from pg_tables "
            "where schemaname not in ('pg_catalog', 'information_schema') order by 1, 2"
        )
    ]
    return {n: conn.execute(f'select count(*) from {n.split(".")[0]}."{n.split(".")[1]}"').fetchone()[0] for n in names}


def _reference_files(root: Path) -> None:
    """A clean file per contract, loaded before the corpus (so the corpus run only appends)."""
    ref = [c for c in CASES if c.name in ("kc_clean", "rec_clean", "mls_clean", "uk_clean", "nyc_clean", "zhvi_clean",
                                          "fred_current_header")]
    for case in ref:
        path = root / case.key.replace("2024/01/15", REFERENCE_DAY)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(case.data.replace(b"UKCLEAN", b"UKREF"))


@pytest.fixture(scope="module")
def corpus_run(module_db, tmp_path_factory) -> CorpusRun:
    root = tmp_path_factory.mktemp("malformed-landing")
    _reference_files(root)
    first = checks.run_ingest(module_db.env(), root)
    assert first.returncode == 0, first.stderr
    with module_db.connect(autocommit=True) as conn:
        conn.execute("create table raw.x (id int)")
        conn.execute("insert into raw.x values (1), (2), (3)")
        conn.execute("create table public.sentinel (id int)")
        conn.execute("insert into public.sentinel values (1), (2)")
        before = _tables(conn)
    malformed.write(root, CASES)
    proc = checks.run_ingest(module_db.env(), root, timeout=300)
    with module_db.connect() as conn:
        ledger = {
            r[0]: r[1:]
            for r in conn.execute(
                "select file_key, load_id, status, rows_read, rows_loaded, rows_rejected, error "
                "from ingestion_meta.load_ledger"
            )
        }
        rejects: dict[str, list[tuple]] = {}
        for r in conn.execute(
            "select file_key, line_number, column_name, reason, value, raw_text from ingestion_meta.rejected_rows "
            "order by file_key, line_number"
        ):
            rejects.setdefault(r[0], []).append(r[1:])
        after = _tables(conn)
    return CorpusRun(proc.returncode, proc.stdout, proc.stderr, ledger, rejects, before, after)


# ------------------------------------------------------------------ independent record accounting
@dataclass
class Record:
    line: int  # physical line where the record starts (1-based)
    text: str  # the raw text of the record (with its line terminator)
    fields: list[str]


def _decoded(case: Case) -> str | None:
    data = case.data
    if case.ext.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return None
    text = data.decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def csv_records(text: str, skip_lines: int, header: bool, skip_blank: bool) -> list[Record]:
    """Records of a CSV text, by Python's csv module, with their start line and raw text."""
    lines = io.StringIO(text, newline="").readlines()
    pos = 0
    records: list[Record] = []
    pending: list[str] = []

    def feed():
        nonlocal pos
        while pos < len(lines):
            pending.append(lines[pos])
            pos += 1
            yield lines[pos - 1]

    pos = min(skip_lines, len(lines))
    reader = csv.reader(feed(), strict=False)
    line = pos + 1
    seen_header = not header
    for fields in reader:
        raw, start = "".join(pending), line
        line += len(pending)
        pending.clear()
        blank = not fields or (skip_blank and not any(fields))
        if not seen_header:
            if fields and any(f.strip() for f in fields):
                seen_header = True
            continue
        if not blank:
            records.append(Record(start, raw, fields))
    return records


def jsonl_records(text: str) -> list[Record]:
    """JSON Lines: one record per non-blank line; lines end at LF only (the spec), CR LF allowed."""
    records = []
    for i, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            records.append(Record(i, line + "\n", []))
    return records


def records_of(case: Case) -> list[Record] | None:
    text = _decoded(case)
    if text is None or not case.countable:
        return None
    fmt = CONTRACTS[case.contract].format
    if fmt.type == "jsonl":
        return jsonl_records(text)
    return csv_records(text, fmt.skip_lines, fmt.header, fmt.skip_blank_rows)


def storable(text: str, limit: int = 1_000_000) -> str:
    """How rejected_rows stores raw text it cannot hold as is (NUL, undecodable bytes, huge values)."""
    text = text.replace("\x00", "\\x00")
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text if len(text) <= limit else text[:limit] + f"\u2026 [{len(text) - limit} more characters]"


# ------------------------------------------------------------------ the per-file checks
def test_cli_exits_2_without_traceback_and_names_every_refused_file(corpus_run):
    assert corpus_run.returncode == 2, corpus_run.stderr[-2000:]
    assert "Traceback" not in corpus_run.stderr
    refused = {k: v for k, v in corpus_run.ledger.items() if v[1] == "refused"}
    assert refused
    lines = corpus_run.stderr.splitlines()
    for key, row in refused.items():
        assert f"  {key}: {row[5]}" in lines, f"{key} not reported on one stderr line"


def test_every_corpus_file_is_in_the_ledger_once(corpus_run, module_db, tmp_path):
    keys = {c.key for c in CASES}
    assert keys <= set(corpus_run.ledger)
    with module_db.connect() as conn:
        dupes = conn.execute(
            "select file_key, count(*) from ingestion_meta.load_ledger group by 1 having count(*) > 1"
        ).fetchall()
        problems = checks.ledger_problems(conn, None, CONTRACTS)
    assert dupes == []
    assert problems == []


def test_nothing_outside_the_expected_tables_changed(corpus_run, module_db):
    before, after = corpus_run.before, corpus_run.after
    assert set(after) == set(before), "tables appeared or disappeared"
    for name, rows in SENTINELS.items():
        assert after[name] == rows
    loaded: dict[str, int] = {}
    for case in CASES:
        row = corpus_run.ledger[case.key]
        table = checks.data_tables(CONTRACTS[case.contract])[0]
        loaded[f"raw.{table}"] = loaded.get(f"raw.{table}", 0) + (row[3] if row[1] == "loaded" else 0)
    with module_db.connect() as conn:
        live_uk = conn.execute(
            "select count(distinct transaction_id) from raw.uk_land_registry__price_paid__changes "
            "where _file_key like '%%/2024/01/15/%%'"
        ).fetchone()[0]
    loaded["raw.uk_land_registry__price_paid"] = live_uk
    loaded["ingestion_meta.load_ledger"] = len(CASES)
    loaded["ingestion_meta.rejected_rows"] = sum(corpus_run.ledger[c.key][4] for c in CASES)
    grew = {name: after[name] - before[name] for name in after}
    assert grew == {name: loaded.get(name, 0) for name in after}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_file(corpus_run, module_db, case: Case):
    assert case.key in corpus_run.ledger, f"{case.key} missing from the ledger"
    load_id, status, rows_read, rows_loaded, rows_rejected, error = corpus_run.ledger[case.key]
    assert status in ("loaded", "refused")
    if case.expect is not None:
        assert status == case.expect, f"{case.name}: {status} ({error})"
    rejects = corpus_run.rejects.get(case.key, [])
    contract = CONTRACTS[case.contract]
    table = checks.data_tables(contract)[0]
    with module_db.connect() as conn:
        in_raw = conn.execute(
            f'select count(*) from raw."{table}" where _file_key = %s', (case.key,)
        ).fetchone()[0]
        row_numbers = [
            r[0] for r in conn.execute(f'select _row_number from raw."{table}" where _file_key = %s', (case.key,))
        ]
    assert len(rejects) == rows_rejected
    for line, _column, reason, _value, raw_text in rejects:
        assert line >= 1 and reason and reason.strip(), (line, reason)
        assert raw_text, f"rejected line {line} has no raw text"
    if status == "refused":
        assert error and error.strip() and "\n" not in error and "\r" not in error, repr(error)
        assert in_raw == 0 and rows_loaded == 0
        if case.error:
            assert case.error in error
    else:
        assert error is None
        assert rows_read == rows_loaded + rows_rejected
        assert in_raw == rows_loaded
    if case.loaded is not None:
        assert rows_loaded == case.loaded
    if case.rejected is not None:
        assert rows_rejected == case.rejected
    for line, text in case.reasons:
        assert any(r[0] == line and text in r[2] for r in rejects), f"no reject at line {line} with {text!r}: {rejects}"

    records = records_of(case)
    if records is not None and (status == "loaded" or rows_read):
        by_line = {r.line: r for r in records}
        assert rows_read == len(records), f"independent count {len(records)} != rows_read {rows_read}"
        reject_lines = [r[0] for r in rejects]
        assert not set(reject_lines) & set(row_numbers), "a line is both loaded and rejected"
        if status == "loaded":
            assert sorted(row_numbers + reject_lines) == sorted(by_line), "loaded + rejected lines != record lines"
        else:
            assert set(reject_lines) <= set(by_line)
        for line, _column, _reason, _value, raw_text in rejects:
            assert raw_text == storable(by_line[line].text), f"raw_text of line {line}"


VERBATIM = [(c, v) for c in CASES for v in c.verbatim]


@pytest.mark.parametrize(
    ("case", "item"), VERBATIM, ids=[f"{c.name}-{i}" for c in CASES for i, _ in enumerate(c.verbatim)]
)
def test_hostile_value_lands_verbatim(corpus_run, module_db, case: Case, item):
    key_col, key, col, value = item
    contract = CONTRACTS[case.contract]
    table = checks.data_tables(contract)[0]
    with module_db.connect() as conn:
        got = conn.execute(
            f'select "{col}"::text from raw."{table}" where "{key_col}" = %s and _file_key = %s', (key, case.key)
        ).fetchall()
    assert got == [(value,)], f"{col} of {key!r}: {got!r} != {value!r}"


def test_hostile_header_names_are_quoted_verbatim_in_the_error(corpus_run):
    row = corpus_run.ledger[next(c.key for c in CASES if c.name == "kc_hostile_header_replaces_required")]
    assert 'price"; drop table raw.king_county__sales; --' in row[5]


def test_corpus_files_are_not_retried_on_a_rerun(corpus_run, module_db, tmp_path):
    """Refused files stay refused (same contract), loaded ones stay loaded: a rerun is a no-op."""
    root = Path(tmp_path) / "empty"
    root.mkdir()
    malformed.write(root, CASES)
    proc = checks.run_ingest(module_db.env(), root)
    assert proc.returncode == 0 and "nothing to load" in proc.stdout, proc.stdout + proc.stderr


# ------------------------------------------------------------------ former crashes (each aborted the batch)
KC_KEY = "king_county/sales/2024/02/01/{}.csv"


def _ingest_one(db, tmp_path, files: dict[str, bytes], *contracts):
    for key, data in files.items():
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    proc = checks.run_ingest(db.env(), tmp_path, *contracts)
    with db.connect() as conn:
        ledger = {
            r[0]: r[1:] for r in conn.execute("select file_key, status, rows_loaded, error from ingestion_meta.load_ledger")
        }
    return proc, ledger


def _assert_refused_cleanly(proc, ledger, bad_key, good_key):
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert proc.returncode == 2
    assert ledger[bad_key][0] == "refused" and "\n" not in ledger[bad_key][2]
    assert ledger[good_key][:2] == ("loaded", 3)


@pytest.mark.parametrize("variant", ["missing_required", "duplicate_name", "gzip_bytes_under_csv_key"])
def test_undecodable_header_of_a_refused_file_does_not_crash_the_batch(db, tmp_path, variant):
    if variant == "missing_required":
        bad = kc_file(kc_good(3)).replace(b"price", b"pr\xffice", 1)
    elif variant == "duplicate_name":  # both "grade" columns become "gr\xffade"
        bad = kc_file([[*r, "1"] for r in kc_good(3)], [*malformed.KC_COLUMNS, "grade"]).replace(b"grade", b"gr\xffade")
    else:
        bad = gzip.compress(kc_file(kc_good(3)), mtime=0)
    files = {KC_KEY.format("a_bad"): bad, KC_KEY.format("b_good"): kc_file(kc_good(3))}
    proc, ledger = _ingest_one(db, tmp_path, files, "king_county__sales")
    _assert_refused_cleanly(proc, ledger, KC_KEY.format("a_bad"), KC_KEY.format("b_good"))


def test_nul_in_header_of_a_refused_file_does_not_crash_the_batch(db, tmp_path):
    bad = kc_file(kc_good(3), [("pri\x00ce" if h == "price" else h) for h in malformed.KC_COLUMNS])
    files = {KC_KEY.format("a_bad"): bad, KC_KEY.format("b_good"): kc_file(kc_good(3))}
    proc, ledger = _ingest_one(db, tmp_path, files, "king_county__sales")
    _assert_refused_cleanly(proc, ledger, KC_KEY.format("a_bad"), KC_KEY.format("b_good"))


@pytest.mark.parametrize("variant", ["newline_in_header_name", "newline_in_first_rejected_value"])
def test_refusal_error_is_one_line(db, tmp_path, variant):
    if variant == "newline_in_header_name":
        bad = kc_file(kc_good(3), [("pri\nce" if h == "price" else h) for h in malformed.KC_COLUMNS])
    else:
        bad = kc_file([*kc_good(2), *[kc_values(100 + i, price="12\n34") for i in range(15)]])
    files = {KC_KEY.format("a_bad"): bad, KC_KEY.format("b_good"): kc_file(kc_good(3))}
    proc, ledger = _ingest_one(db, tmp_path, files, "king_county__sales")
    _assert_refused_cleanly(proc, ledger, KC_KEY.format("a_bad"), KC_KEY.format("b_good"))
    refused_lines = [line for line in proc.stderr.splitlines() if KC_KEY.format("a_bad") in line]
    assert len(refused_lines) == 1 and refused_lines[0].endswith(ledger[KC_KEY.format("a_bad")][2])


def test_cr_only_line_endings_do_not_crash_the_batch(db, tmp_path):
    files = {KC_KEY.format("a_mac"): kc_file(kc_good(4), eol="\r"), KC_KEY.format("b_good"): kc_file(kc_good(3))}
    proc, ledger = _ingest_one(db, tmp_path, files, "king_county__sales")
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    assert ledger[KC_KEY.format("b_good")][:2] == ("loaded", 3)
    assert ledger[KC_KEY.format("a_mac")][0] in ("loaded", "refused")


def test_load_time_dependent_date_words_are_rejected(db, tmp_path):
    words = ["now", "today", "yesterday", "tomorrow", "infinity", "-infinity", "epoch"]
    files = {
        KC_KEY.format("dates"): kc_file([*kc_good(20), *[kc_values(100 + i, date=w) for i, w in enumerate(words)]]),
        "mls/listing_events/2024/02/01/dates.jsonl": jsonl(
            [mls_event(i) for i in range(20)] + [mls_event(100 + i, event_at=w) for i, w in enumerate(words)]
        ),
    }
    proc, ledger = _ingest_one(db, tmp_path, files)
    assert proc.returncode == 0, proc.stderr
    assert {k: v[:2] for k, v in ledger.items()} == {k: ("loaded", 20) for k in files}


def test_fast_path_and_parsing_path_load_the_same_values(db, tmp_path):
    names = ['SMITH "BOB" JONES', '12" PIPE 6" PIPE', 'ab"c"', 'a""b']
    header = ",".join(malformed.REC_COLUMNS)

    def body(extra: list[str]) -> bytes:
        rows = [",".join(rec_values(f"Q{i}", buyer_name=n, seller_name="X")) for i, n in enumerate(names)]
        return gzip.compress(("\n".join([header, *rows, *extra]) + "\n").encode(), mtime=0)

    fast = body([])
    slow = body([",".join(rec_values("BAD", sale_price="free", buyer_name="X", seller_name="X"))])
    proc, ledger = _ingest_one(db, tmp_path, {"recorder/sales/2024/02/01/fast.csv.gz": fast,
                                              "recorder/sales/2024/02/02/slow.csv.gz": slow})
    assert proc.returncode == 0, proc.stderr
    got = {}
    with db.connect() as conn:
        for key, doc, buyer in conn.execute("select _file_key, document_number, buyer_name from raw.recorder__sales"):
            got.setdefault(key.rsplit("/", 1)[1], {})[doc] = buyer
    assert got["fast.csv.gz"] == got["slow.csv.gz"]


def test_jsonl_bare_carriage_return_inside_a_line_is_whitespace(db, tmp_path):
    data = jsonl([mls_event(i) for i in range(5)]).replace(b', "listing_id"', b',\r"listing_id"')
    key = "mls/listing_events/2024/02/01/cr.jsonl"
    proc, ledger = _ingest_one(db, tmp_path, {key: data}, "mls__listing_events")
    with db.connect() as conn:
        read = conn.execute("select rows_read from ingestion_meta.load_ledger").fetchone()[0]
    assert read == 5
    assert ledger[key][:2] == ("loaded", 5)
