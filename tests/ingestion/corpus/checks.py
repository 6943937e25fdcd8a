"""Invariants of the ingestion layer, checked from the outside (SQL over the ledger and raw tables).

Every function returns a list of human-readable problems (empty = the invariant holds), so a test
can assert ``== []`` and pytest shows every violation at once.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import psycopg
from psycopg import sql

from ingestion.contract import Contract, load_contracts


def md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def landing_files(root: Path, contracts: dict[str, Contract]) -> dict[tuple[str, str], str]:
    """(contract, key) → md5 of every landing file a contract owns (dot-files and .tmp are not files)."""
    out = {}
    for contract in contracts.values():
        base = Path(root) / contract.landing_prefix
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith(".") and not path.name.endswith(".tmp"):
                out[(contract.name, path.relative_to(root).as_posix())] = md5_file(path)
    return out


def exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute("select to_regclass(%s) is not null", (f'{schema}."{table}"',)).fetchone()[0]


def data_tables(contract: Contract) -> list[str]:
    """The raw tables that hold every loaded row with its file key (the changes table for merge)."""
    return [contract.changes_table if contract.load.mode == "merge" else contract.raw_table]


def ledger_problems(conn: psycopg.Connection, root: Path | None, contracts: dict[str, Contract]) -> list[str]:
    """Exactly-once and nothing-lost invariants over the ledger, rejected_rows and raw tables."""
    problems: list[str] = []
    ledger = conn.execute(
        "select load_id, contract, file_key, file_version, status, rows_read, rows_loaded, rows_rejected, error, "
        "superseded_at is not null from ingestion_meta.load_ledger"
    ).fetchall()
    current = [r for r in ledger if not r[9]]
    seen: dict[tuple[str, str, str], int] = {}
    for r in current:
        seen[(r[1], r[2], r[3])] = seen.get((r[1], r[2], r[3]), 0) + 1
    problems += [f"{k}: {n} current ledger rows" for k, n in seen.items() if n != 1]
    per_key: dict[tuple[str, str], int] = {}
    for r in current:
        if r[4] == "loaded":
            per_key[(r[1], r[2])] = per_key.get((r[1], r[2]), 0) + 1
    problems += [f"{k}: {n} current loaded versions" for k, n in per_key.items() if n > 1]
    if root is not None:
        files = landing_files(root, contracts)
        versions = {(r[1], r[2]): r[3] for r in current}
        for (name, key), md5 in files.items():
            if (name, key) not in versions:
                problems.append(f"landing file {key} is not in the ledger")
            elif versions[(name, key)] != md5:
                problems.append(f"landing file {key}: ledger has version {versions[(name, key)]}, file is {md5}")
    rejects = dict(conn.execute("select load_id, count(*) from ingestion_meta.rejected_rows group by 1").fetchall())
    ids = {r[0] for r in ledger}
    problems += [f"{n} rejected rows of load_id {i} that is not in the ledger" for i, n in rejects.items() if i not in ids]
    for r in ledger:
        load_id, name, key, version, status, read, loaded, rejected, error = r[:9]
        if rejects.get(load_id, 0) != rejected:
            problems.append(f"{key}: ledger says {rejected} rejected rows, rejected_rows has {rejects.get(load_id, 0)}")
        if status == "loaded" and read != loaded + rejected:
            problems.append(f"{key}: rows_read {read} != rows_loaded {loaded} + rows_rejected {rejected}")
        if status == "refused" and (not error or "\n" in error or loaded != 0):
            problems.append(f"{key}: refused with error {error!r} and rows_loaded {loaded}")
    for contract in contracts.values():
        for table in data_tables(contract):
            if not exists(conn, "raw", table):
                continue
            counts = {
                (k, v): n
                for k, v, n in conn.execute(
                    sql.SQL("select _file_key, _file_version, count(*) from {} group by 1, 2").format(
                        sql.Identifier("raw", table)
                    )
                )
            }
            expected = {
                (r[2], r[3]): r[6] for r in current if r[1] == contract.name and r[4] == "loaded" and r[6] > 0
            }
            if counts != expected:
                diff = {k: (counts.get(k), expected.get(k)) for k in set(counts) | set(expected)
                        if counts.get(k) != expected.get(k)}
                problems.append(f"raw.{table}: rows per file version (raw, ledger) differ: {sorted(diff.items())[:5]}")
            problems += duplicate_problems(conn, contract, table)
    return problems


def duplicate_problems(conn: psycopg.Connection, contract: Contract, table: str) -> list[str]:
    keys = ["_file_key", "_row_number"]
    if contract.format.unpivot is not None:  # one source line → one row per value column
        keys.append(contract.format.unpivot.name_column)
    cols = sql.SQL(", ").join(map(sql.Identifier, keys))
    dupes = conn.execute(
        sql.SQL("select {}, count(*) from {} group by {} having count(*) > 1 limit 5").format(
            cols, sql.Identifier("raw", table), cols
        )
    ).fetchall()
    return [f"raw.{table}: duplicate {tuple(keys)} {d[:-1]} x{d[-1]}" for d in dupes]


def table_digests(conn: psycopg.Connection, contracts: dict[str, Contract]) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row minus _loaded_at in a stable order) per raw table."""
    out = {}
    for contract in contracts.values():
        tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
        for table in tables:
            if not exists(conn, "raw", table):
                continue
            cols = [c.name for c in contract.columns] + ["_file_key", "_file_version", "_row_number"]
            row = sql.SQL("row({})::text").format(sql.SQL(", ").join(map(sql.Identifier, cols)))
            order = sql.SQL(", ").join(map(sql.Identifier, ["_file_key", "_row_number", *[c.name for c in contract.columns]]))
            count, digest = conn.execute(
                sql.SQL("select count(*), md5(coalesce(string_agg({}, E'\\n' order by {}), '')) from {}").format(
                    row, order, sql.Identifier("raw", table)
                )
            ).fetchone()
            out[table] = (count, digest)
    return out


def ledger_summary(conn: psycopg.Connection) -> set[tuple]:
    """What a clean run and a crashed-then-rerun must agree on (no ids or timestamps)."""
    return set(
        conn.execute(
            "select contract, file_key, file_version, status, rows_read, rows_loaded, rows_rejected "
            "from ingestion_meta.load_ledger where superseded_at is null"
        ).fetchall()
    )


def ingest_cmd(landing: Path, *contracts: str) -> list[str]:
    cmd = [sys.executable, "-m", "terraminer.cli", "ingest", "--landing", str(landing), "--quiet"]
    for name in contracts:
        cmd += ["--contract", name]
    return cmd


def run_ingest(env: dict, landing: Path, *contracts: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(ingest_cmd(landing, *contracts), env=env, capture_output=True, text=True, timeout=timeout)


def contracts_named(*names: str) -> dict[str, Contract]:
    return load_contracts(names=list(names) or None)
