"""Discover pending landing files per contract and load them: the product entry point used by the
CLI (``terraminer ingest``), Dagster assets and benchmarks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingestion.contract import Contract
from ingestion.landing import Landing, LandingObject, ledger_key
from ingestion.parsing import printable
from ingestion.writers import as_writer
from ingestion.writers.base import (
    FileResult,
    TableMismatch,
    Writer,
    failure_reason,
    is_pending,
    warehouse_lost,
)

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


@dataclass
class PendingFile:
    contract: Contract
    obj: LandingObject
    state: str  # new | changed | retry | refuse (a key the ledger cannot hold: refused unread)
    reason: str | None = None  # why, for state refuse


@dataclass
class IngestReport:
    results: list[FileResult] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)  # listing entries that are not regular files

    @property
    def refused(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "refused"]

    @property
    def loaded(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "loaded"]

    def totals(self) -> dict[str, int]:
        return {
            "files": len(self.results),
            "loaded_files": len(self.loaded),
            "refused_files": len(self.refused),
            "rows_read": sum(r.rows_read for r in self.results),
            "rows_loaded": sum(r.rows_loaded for r in self.results),
            "rows_rejected": sum(r.rows_rejected for r in self.results),
        }


def ensure_raw_tables(writer: Writer, contracts: dict[str, Contract]) -> None:
    """Every contract's raw table exists (typed, empty) before its first file arrives, so dbt
    sources, their tests and BI tools see a table per contract from the first run. A table whose
    columns no longer match the contract is left alone here: loading its next file refuses it
    with the reason."""
    for contract in contracts.values():
        try:
            with writer.lock(contract):
                writer.ensure_table(contract)
        except TableMismatch:
            continue


def ensure_key_indexes(writer: Writer, contracts: dict[str, Contract]) -> None:
    """The key indexes contracts ask for (``index_key``), created after a run's loads: a first bulk
    load then pays one sorted index build instead of maintaining the index row by row (the 1M-sale
    benchmark's ingest, 3.8M such rows, took 141 s that way, 124 s with the build after the loads and
    104 s without the index); later daily loads maintain it as they insert."""
    for contract in contracts.values():
        if contract.index_key:
            with writer.lock(contract):
                created = writer.ensure_key_index(contract)
            if not created:
                log.warning("raw.%s has no key index and this role does not own the table, so daily dbt builds "
                            "read it slower: run `terraminer ingest` once as its owner (the admin)", contract.raw_table)


def refresh_statistics(writer: Writer, contracts: dict[str, Contract], report: IngestReport) -> None:
    """Statistics of the raw tables this run grew by a large share (issue 19, item 5): the dbt build
    that follows plans on them. A new market or a backfill (e.g. NYC and UK, 70,818 rows, added to
    the demo warehouse) otherwise leaves the planner with the old sizes until autovacuum comes by,
    and the first reads of the new rows pay for setting their hint bits. Per contract with rows
    loaded; the writer decides whether they are a large share (``refresh_statistics``)."""
    loaded: dict[str, int] = {}
    for result in report.loaded:
        loaded[result.contract] = loaded.get(result.contract, 0) + result.rows_loaded
    for name, rows in loaded.items():
        if rows > 0 and name in contracts:
            writer.refresh_statistics(contracts[name], rows)


def discover(
    writer: Writer,
    contracts: dict[str, Contract],
    landing: Landing,
    *,
    retry_refused: bool = False,
    skipped: list[FileResult] | None = None,
) -> list[PendingFile]:
    """Pending file versions of every contract, in landing-key order per contract. Entries that are
    not regular files go to ``skipped`` (with the reason); keys the ledger cannot hold are pending
    as refusals under :func:`ingestion.landing.ledger_key`."""
    pending = []
    for contract in contracts.values():
        ledger = writer.ledger_versions(contract)
        loaded_keys = {k for (k, _v), (status, _f) in ledger.items() if status == "loaded"}
        listing = landing.scan(contract.landing_prefix)
        for problem in listing.problems:
            if not problem.refuse:
                if skipped is not None:
                    skipped.append(FileResult(contract.name, printable(problem.key), "", "skipped", error=problem.reason))
                continue
            obj = LandingObject(ledger_key(problem.key), problem.version, problem.size)
            if is_pending(ledger.get((obj.key, obj.version)), contract, retry_refused):
                pending.append(PendingFile(contract, obj, "refuse", problem.reason))
        for obj in listing.objects:
            state = ledger.get((obj.key, obj.version))
            if not is_pending(state, contract, retry_refused):
                continue
            kind = "retry" if state is not None else ("changed" if obj.key in loaded_keys else "new")
            pending.append(PendingFile(contract, obj, kind))
    return pending


def load_one(writer: Writer, item: PendingFile, *, retry_refused: bool = False, on_progress=None) -> FileResult:
    """Load one pending file; any failure of that file (reading, parsing, a driver error about its
    data) refuses it with a one-line reason. Only losing the warehouse itself raises."""
    if item.state == "refuse":
        return writer.refuse(item.contract, item.obj, item.reason or "refused")
    try:
        return writer.load(item.contract, item.obj, retry_refused=retry_refused, on_progress=on_progress)
    except Exception as err:
        if warehouse_lost(writer, err):
            raise
        log.warning("%s: %s", item.obj.key, failure_reason(err), exc_info=log.isEnabledFor(logging.DEBUG))
        return writer.refuse(item.contract, item.obj, failure_reason(err))


def ingest(
    target: Writer | psycopg.Connection,
    contracts: dict[str, Contract],
    landing: Landing,
    *,
    dry_run: bool = False,
    retry_refused: bool = False,
    on_file_start: Callable[[PendingFile, int, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_file_done: Callable[[FileResult], None] | None = None,
) -> tuple[list[PendingFile], IngestReport]:
    """Load every pending file; a refused (or failing) file never stops the others.

    ``target`` is a :class:`Writer` (``ingestion.writers.open_writer``) or a psycopg connection the
    caller owns (loaded through a PostgresWriter on it). Nothing here closes it.
    """
    writer = as_writer(target, landing)
    writer.ensure_meta()
    if not dry_run:
        ensure_raw_tables(writer, contracts)
    report = IngestReport()
    pending = discover(writer, contracts, landing, retry_refused=retry_refused, skipped=report.skipped)
    if dry_run:
        return pending, report
    for index, item in enumerate(pending, start=1):
        if on_file_start is not None:
            on_file_start(item, index, len(pending))
        result = load_one(writer, item, retry_refused=retry_refused, on_progress=on_progress)
        report.results.append(result)
        if on_file_done is not None:
            on_file_done(result)
    ensure_key_indexes(writer, contracts)
    refresh_statistics(writer, contracts, report)
    return pending, report
