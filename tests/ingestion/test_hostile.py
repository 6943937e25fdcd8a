"""Hostile landing zones: whole files that are dangerous or unlucky never stop a run (issue 16).

Good King County files sit beside hostile ones: links out of the root, dangling links, a link loop,
FIFOs, a device, a socket, a compression bomb, an endless line, deep JSON nesting, a wrong
delimiter at scale, a file changed while it is loaded, keys with control characters or longer than
the ledger holds. ONE ``terraminer ingest`` run (through a harness that rewrites one file in place
right after the loader opens it) must exit 2 without a traceback, load every good file exactly,
refuse or skip every hostile one with a reason, and keep the process tree under 200 MB (sampled
like ``bench/common.py`` does). A → B → A of one key is checked on its own: the raw table holds
exactly A's rows and the ledger tells the story.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from corpus import bulk, checks
from corpus.malformed import KC_COLUMNS, csv_text, kc_values, mls_event

from bench.common import MemorySampler

XDIST_WEIGHT = 40
PEAK_RSS_MB = 200
DAY = "king_county/sales/2024/03/01"
MLS_DAY = "mls/listing_events/2024/03/01"

HARNESS = """
import sys
from ingestion import landing
from terraminer import cli

original_open = landing.LocalLanding.open


def open_then_rewrite(self, obj):
    stream = original_open(self, obj)
    if "changed_during_load" in obj.key:  # cp over the file while the loader reads it
        with open(self._path(obj.key), "r+b") as handle:
            handle.seek(-30, 2)
            handle.write(b"9" * 29 + b"\\n")
    return stream


landing.LocalLanding.open = open_then_rewrite
sys.exit(cli.main(sys.argv[1:]))
"""


def kc_rows(first: int, count: int) -> bytes:
    return csv_text([KC_COLUMNS, *[kc_values(first + i) for i in range(count)]]).encode()


def _write(root: Path, key: str, data: bytes) -> None:
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _bomb(path: Path, decompressed: int) -> None:
    """A gzip file of a valid header and one repeated line: about 1,000× smaller than its content."""
    line = (",".join(kc_values(1)) + "\n").encode()
    block = line * ((1 << 20) // len(line))
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as out:
        out.write(compressor.compress((",".join(KC_COLUMNS) + "\n").encode()))
        for _ in range(decompressed // len(block)):
            out.write(compressor.compress(block))
        out.write(compressor.flush())


@dataclass
class Hostile:
    good: dict[str, int]  # key -> rows it must load
    refused: dict[str, str]  # key (or its ledger stand-in prefix) -> substring of the reason
    skipped: dict[str, str]  # key -> substring of the skip reason


def build_landing(root: Path, outside: Path) -> Hostile:
    good = {
        f"{DAY}/a_good.csv": 200,
        f"{DAY}/m_good.csv": 150,
        f"{DAY}/z_good.csv.gz": 120,
        "king_county/sales/2024/03/02/big_good.csv": 60_000,
    }
    _write(root, f"{DAY}/a_good.csv", kc_rows(0, 200))
    _write(root, f"{DAY}/m_good.csv", kc_rows(1000, 150))
    _write(root, f"{DAY}/z_good.csv.gz", gzip.compress(kc_rows(2000, 120), mtime=0))
    _write(root, "king_county/sales/2024/03/02/big_good.csv", bulk.kc_big_csv(60_000, seed=9))
    refused: dict[str, str] = {}
    skipped: dict[str, str] = {}
    base = root / DAY

    # links and special files: skipped, never opened
    (outside / "secret.csv").write_bytes(kc_rows(5000, 5))
    os.symlink(outside / "secret.csv", base / "link_out.csv")
    skipped[f"{DAY}/link_out.csv"] = "outside the landing root"
    os.symlink("/dev/zero", base / "link_zero.csv")
    skipped[f"{DAY}/link_zero.csv"] = "outside the landing root"
    os.symlink(base / "gone.csv", base / "dangling.csv")
    skipped[f"{DAY}/dangling.csv"] = "dangling symbolic link"
    os.symlink(base / "loop_b.csv", base / "loop_a.csv")
    os.symlink(base / "loop_a.csv", base / "loop_b.csv")
    skipped[f"{DAY}/loop_a.csv"] = "symbolic link"
    skipped[f"{DAY}/loop_b.csv"] = "symbolic link"
    os.mkfifo(base / "fifo.csv")
    skipped[f"{DAY}/fifo.csv"] = "FIFO"
    os.symlink(base / "fifo.csv", base / "link_fifo.csv")
    skipped[f"{DAY}/link_fifo.csv"] = "FIFO"
    try:
        os.mknod(base / "zero_device.csv", 0o600 | 0o020000, os.makedev(1, 5))
        skipped[f"{DAY}/zero_device.csv"] = "character device"
    except PermissionError:
        pass
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(base / "sock.csv"))
    sock.close()
    skipped[f"{DAY}/sock.csv"] = "socket"
    os.symlink(outside, base / "dir_link")
    skipped[f"{DAY}/dir_link"] = "symbolic link to a directory"

    # files refused whole, with the reason
    _bomb(base / "bomb.csv.gz", 160 << 20)
    refused[f"{DAY}/bomb.csv.gz"] = "compression bomb"
    with open(base / "endless.csv", "wb") as out:
        out.write((",".join(KC_COLUMNS) + "\n").encode())
        for _ in range(24):
            out.write(b"x" * (1 << 20))
    refused[f"{DAY}/endless.csv"] = "limits.max_line_bytes"
    wrong = [",".join(KC_COLUMNS)] + [";".join(kc_values(10_000 + i)) for i in range(300_000)]
    _write(root, f"{DAY}/wrong_delimiter.csv", ("\n".join(wrong) + "\n").encode())
    refused[f"{DAY}/wrong_delimiter.csv"] = "refused after"
    _write(root, f"{DAY}/changed_during_load.csv", kc_rows(7000, 300))
    refused[f"{DAY}/changed_during_load.csv"] = "changed while it was being loaded"
    _write(root, f"{DAY}/bad\nname.csv", kc_rows(8000, 3))
    refused[f"{DAY}/bad\\x0aname.csv"] = "control characters"
    long_dir = "/".join(["d" * 200] * 5)
    _write(root, f"{DAY}/{long_dir}/long.csv", kc_rows(9000, 3))
    refused[f"{DAY}/{'d' * 200}"] = "longer than the ledger's 1024"

    # deep JSON nesting: rows rejected with the reason (one file loads, one is refused by its threshold)
    deep = "[" * 200_000 + "]" * 200_000
    events = [json.dumps(mls_event(i)) for i in range(40)]
    _write(root, f"{MLS_DAY}/deep_one.jsonl", ("\n".join([*events, deep]) + "\n").encode())
    good[f"{MLS_DAY}/deep_one.jsonl"] = 40
    _write(root, f"{MLS_DAY}/deep_all.jsonl", ("\n".join([deep] * 12) + "\n").encode())
    refused[f"{MLS_DAY}/deep_all.jsonl"] = "rejected"
    return Hostile(good, refused, skipped)


@pytest.fixture(scope="module")
def hostile_run(module_db, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-landing")
    outside = tmp_path_factory.mktemp("outside")
    expected = build_landing(root, outside)
    script = root.parent / "hostile_harness.py"
    script.write_text(HARNESS)
    cmd = [sys.executable, str(script), "ingest", "--landing", str(root), "--quiet",
           "--contract", "king_county__sales", "--contract", "mls__listing_events"]
    proc = subprocess.Popen(cmd, env=module_db.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with MemorySampler(proc.pid, interval=0.05) as sampler:
        stdout, stderr = proc.communicate(timeout=600)
    peak = sampler.peaks()[0]
    with module_db.connect() as conn:
        ledger = {r[0]: r[1:] for r in conn.execute(
            "select file_key, status, rows_read, rows_loaded, rows_rejected, error from ingestion_meta.load_ledger")}
        rejects = conn.execute(
            "select file_key, count(*), count(raw_text) from ingestion_meta.rejected_rows group by 1").fetchall()
        raw = dict(conn.execute("select _file_key, count(*) from raw.king_county__sales group by 1").fetchall())
        raw.update(conn.execute("select _file_key, count(*) from raw.mls__listing_events group by 1").fetchall())
    return expected, proc.returncode, stdout, stderr, peak, ledger, rejects, raw, root


def test_run_exits_2_without_a_traceback(hostile_run):
    _expected, code, stdout, stderr, *_ = hostile_run
    assert code == 2, stdout + stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr[-3000:]


def test_every_good_file_is_loaded_exactly(hostile_run, module_db):
    expected, *_rest, ledger, _rejects, raw, root = hostile_run
    for key, rows in expected.good.items():
        status, read, loaded, _rejected, error = ledger[key]
        assert (status, loaded, raw.get(key)) == ("loaded", rows, rows), (key, error)
    with module_db.connect() as conn:
        assert checks.duplicate_problems(conn, checks.contracts_named("king_county__sales")["king_county__sales"],
                                         "king_county__sales") == []


def test_every_hostile_file_is_refused_with_its_reason(hostile_run):
    expected, _code, _out, stderr, _peak, ledger, _rejects, raw, _root = hostile_run
    for key, reason in expected.refused.items():
        found = [(k, v) for k, v in ledger.items() if k.startswith(key)]
        assert len(found) == 1, (key, sorted(ledger))
        stored_key, (status, _read, loaded, _rejected, error) = found[0]
        assert status == "refused" and loaded == 0 and reason in (error or ""), (key, error)
        assert "\n" not in error and len(stored_key.encode()) <= 1024
        assert raw.get(stored_key) is None
        assert f"  {stored_key}: {error}" in stderr.splitlines()


def test_every_special_entry_is_skipped_with_its_reason(hostile_run):
    expected, _code, _out, stderr, _peak, ledger, *_ = hostile_run
    lines = stderr.splitlines()
    for key, reason in expected.skipped.items():
        assert key not in ledger
        assert any(line.startswith(f"  {key}: ") and reason in line for line in lines), (key, stderr[-3000:])


def test_only_the_first_rejected_rows_keep_their_raw_text(hostile_run):
    _expected, _code, _out, _err, _peak, ledger, rejects, *_ = hostile_run
    by_key = {k: (n, with_text) for k, n, with_text in rejects}
    n, with_text = by_key[f"{DAY}/wrong_delimiter.csv"]
    assert n == ledger[f"{DAY}/wrong_delimiter.csv"][3] and n > 1000 and with_text == 1000
    assert ledger[f"{DAY}/wrong_delimiter.csv"][1] < 300_000, "refused early, not after the whole file"


def test_peak_rss_of_the_process_tree_stays_bounded(hostile_run):
    peak = hostile_run[4]
    print(f"hostile corpus: peak RSS of the ingest process tree {peak:.0f} MB")
    assert 0 < peak <= PEAK_RSS_MB, f"peak RSS {peak:.0f} MB"


def test_a_rerun_records_nothing_new(hostile_run, module_db):
    *_rest, ledger, _rejects, _raw, root = hostile_run
    proc = checks.run_ingest(module_db.env(), root, "king_county__sales", "mls__listing_events")
    assert "Traceback" not in proc.stderr
    with module_db.connect() as conn:
        after = conn.execute("select count(*) from ingestion_meta.load_ledger where superseded_at is null").fetchone()[0]
        changed = conn.execute(
            "select status from ingestion_meta.load_ledger where file_key like %s and superseded_at is null "
            "order by load_id", (f"{DAY}/changed_during_load.csv",)).fetchall()
    # only the file that changed during the first run loads now, in its new version
    assert after == len(ledger) + 1
    assert changed == [("refused",), ("loaded",)]


# ------------------------------------------------------------------ A → B → A
def test_a_version_that_comes_back_is_reloaded_exactly(db, tmp_path):
    from ingestion.contract import load_contracts
    from ingestion.landing import LocalLanding
    from ingestion.runner import ingest

    contracts = load_contracts(names=["king_county__sales"])
    key = f"{DAY}/flip.csv"
    a, b = kc_rows(0, 30), kc_rows(500, 45)
    landing = LocalLanding(tmp_path)
    versions = []
    with db.connect() as conn:
        for data in (a, b, a):
            _write(tmp_path, key, data)
            _pending, report = ingest(conn, contracts, landing)
            assert [r.status for r in report.results] == ["loaded"], [(r.status, r.error) for r in report.results]
            versions.append(report.results[0].file_version)
        digest_aba = checks.table_digests(conn, contracts)["king_county__sales"]
        story = conn.execute(
            "select file_version, status, rows_loaded, superseded_at is not null from ingestion_meta.load_ledger "
            "where file_key = %s order by load_id", (key,)).fetchall()
        assert checks.ledger_problems(conn, None, contracts) == []
    assert versions[0] == versions[2] != versions[1]
    assert story == [(versions[0], "loaded", 30, True), (versions[1], "loaded", 45, True),
                     (versions[0], "loaded", 30, False)]
    with db.connect(autocommit=True) as conn:  # the same rows as loading A alone
        conn.execute("drop schema raw cascade")
        conn.execute("drop schema ingestion_meta cascade")
    with db.connect() as conn:
        _write(tmp_path, key, a)
        ingest(conn, contracts, LocalLanding(tmp_path))
        assert checks.table_digests(conn, contracts)["king_county__sales"] == digest_aba
