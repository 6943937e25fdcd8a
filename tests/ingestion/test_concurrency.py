"""Parallel loaders: two ``terraminer ingest`` processes on one landing zone load every file once.

The landing zone has several contracts and ~170 files: synthetic assessor/recorder/MLS/HPI feeds,
30 small King County files plus a 100k-row one, and UK Land Registry monthly change files (merge:
adds, changes and deletes in landing-key order). A single-process load into another database is
the reference; after the race the raw tables (row count + md5 of every row), the ledger and the
per-process reports must show that every file version was loaded exactly once, by one process.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from corpus import bulk, checks
from corpus.malformed import uk_file, uk_values

from ingestion.contract import load_contracts
from terraminer import roles

CONTRACT_NAMES = [*bulk.SYNTHETIC_CONTRACTS, "king_county__sales", "uk_land_registry__price_paid"]
CONTRACTS = load_contracts(names=sorted(CONTRACT_NAMES))
ROW = re.compile(r"^(\S+)\s+(loaded|refused|skipped)(?: \(replaced\))?\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d.]+\s+(?:[\d,]+|-)$")


def _uk_months(root: Path) -> None:
    """Five monthly change files: adds, then changes and deletes of earlier transactions."""
    for month in range(1, 6):
        rows = [uk_values(f"M{month}-{i}") for i in range(40)]
        if month > 1:
            rows += [uk_values(f"M{month - 1}-{i}", price=str(1000 * month), record_status="C") for i in range(10)]
            rows += [uk_values(f"M{month - 1}-{i}", record_status="D") for i in range(10, 15)]
        path = root / f"uk_land_registry/price_paid/2024/{month:02d}/28/pp-2024-{month:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(uk_file(rows))


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("race-landing")
    bulk.synthetic_landing(root, scale=3, days=45, seed=5)
    bulk.small_kc_files(root, 30)
    bulk.write_kc(root, "big.csv", bulk.kc_big_csv(100_000, seed=4), day="2024/03/01")
    _uk_months(root)
    return root


@pytest.fixture(scope="module")
def reference(module_db, landing):
    proc = checks.run_ingest(module_db.env(), landing)
    assert proc.returncode == 0, proc.stderr
    with module_db.connect() as conn:
        assert checks.ledger_problems(conn, landing, CONTRACTS) == []
        return checks.table_digests(conn, CONTRACTS), checks.ledger_summary(conn)


def _race(db, landing: Path, processes: int = 2, gate: str | None = None) -> list[subprocess.CompletedProcess]:
    """Start the loaders together. With ``gate`` (a contract), the test holds that contract's table lock
    (the loader's own advisory lock) until every loader has discovered its pending files and is waiting
    for it, so every file is contested by every process."""
    holder = None
    if gate is not None:
        holder = db.connect(autocommit=True)
        holder.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (f"terraminer:raw.{gate}",))
    procs = [
        subprocess.Popen(checks.ingest_cmd(landing), env=db.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(processes)
    ]
    if holder is not None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = holder.execute(
                "select count(*) from pg_locks l join pg_database d on d.oid = l.database "
                "where l.locktype = 'advisory' and not l.granted and d.datname = current_database()"
            ).fetchone()[0]
            if waiting == processes:
                break
            time.sleep(0.02)
        holder.execute("select pg_advisory_unlock_all()")
        holder.close()
        assert waiting == processes, f"only {waiting} of {processes} loaders reached the gate"
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _report(stdout: str) -> dict[str, str]:
    """file key → status from one process's result table."""
    return {m.group(1): m.group(2) for line in stdout.splitlines() if (m := ROW.match(line))}


def _assert_loaded_once(results, landing: Path, contested: bool) -> None:
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    reports = [_report(r.stdout) for r in results]
    files = {key for (_name, key) in checks.landing_files(landing, CONTRACTS)}
    if contested:  # every process had every file pending: each was raced for
        assert all(set(rep) == files for rep in reports)
    loaded_by = {key: [i for i, rep in enumerate(reports) if rep.get(key) == "loaded"] for key in files}
    assert {k: v for k, v in loaded_by.items() if len(v) != 1} == {}, "files not loaded by exactly one process"
    for rep in reports:
        assert set(rep.values()) <= {"loaded", "skipped"}


def test_two_loaders_on_one_landing_zone_load_each_file_once(db, landing, reference):
    digests, ledger = reference
    results = _race(db, landing, gate="assessor__parcels")
    _assert_loaded_once(results, landing, contested=True)
    with db.connect() as conn:
        assert checks.ledger_problems(conn, landing, CONTRACTS) == []
        assert checks.ledger_summary(conn) == ledger
        assert checks.table_digests(conn, CONTRACTS) == digests
        assert conn.execute("select count(*) from ingestion_meta.load_ledger").fetchone()[0] == len(ledger)


def test_two_loaders_on_one_big_file_one_loads_the_other_skips(db, tmp_path):
    rows = 150_000
    key = bulk.write_kc(tmp_path, "only.csv", bulk.kc_big_csv(rows, seed=9))
    results = _race(db, tmp_path, gate="king_county__sales")
    for r in results:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    outcomes = sorted(_report(r.stdout).get(key, "not pending") for r in results)
    assert outcomes == ["loaded", "skipped"], [r.stdout for r in results]
    with db.connect() as conn:
        assert conn.execute("select count(*) from raw.king_county__sales").fetchone()[0] == rows
        assert conn.execute("select status, rows_loaded from ingestion_meta.load_ledger").fetchall() == [
            ("loaded", rows)
        ]
        assert checks.ledger_problems(conn, tmp_path, load_contracts(names=["king_county__sales"])) == []


@pytest.mark.slow
def test_four_loaders_repeatedly(db, landing, reference):
    digests, ledger = reference
    for _ in range(5):
        with db.connect(autocommit=True) as conn:
            conn.execute("drop schema if exists raw cascade")
            conn.execute("drop schema if exists ingestion_meta cascade")
            roles.apply_postgres(conn)  # the admin recreates the schemas; the loaders (the CLI's role) may not
        _assert_loaded_once(_race(db, landing, processes=4, gate=None), landing, contested=False)
        with db.connect() as conn:
            assert checks.ledger_problems(conn, landing, CONTRACTS) == []
            assert checks.ledger_summary(conn) == ledger
            assert checks.table_digests(conn, CONTRACTS) == digests
