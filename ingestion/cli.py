"""``terraminer ingest``: discover pending files, load them with a progress bar, print a table."""

from __future__ import annotations

import sys
import time

import psycopg

from core.errors import TerraMinerError
from core.settings import Settings
from ingestion.contract import load_contracts
from ingestion.landing import open_landing
from ingestion.parsing import printable
from ingestion.runner import PendingFile, ingest
from ingestion.writers import FileResult, open_writer


class Progress:
    """A live progress bar on stderr while a file streams (bytes, MB/s, files done), only when
    stderr is a terminal; each finished file's rows per second are in the final table."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None
        self._task = None

    def start(self, item: PendingFile, index: int, count: int) -> None:
        if not self.enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        if self._bar is None:
            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True)
            self._bar.start()
        if self._task is not None:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(f"[{index}/{count}] {item.obj.key[-60:]}", total=max(item.obj.size, 1))

    def advance(self, n: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def finish(self, _result: FileResult) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def format_table(results: list[FileResult]) -> str:
    headers = ("file", "status", "read", "loaded", "rejected", "seconds", "rows/s")
    rows = [
        (r.file_key, r.status + (" (replaced)" if r.replaced else ""), f"{r.rows_read:,}", f"{r.rows_loaded:,}",
         f"{r.rows_rejected:,}", f"{r.seconds:.2f}", f"{r.rows_read / r.seconds:,.0f}" if r.seconds > 0 else "-")
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5, 6}

    def fmt(row):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    lines = [fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(row) for row in rows]
    return "\n".join(lines)


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return printable(text.splitlines()[0]) if text else type(err).__name__


def _print_skipped(skipped: list[FileResult]) -> bool:
    """One stderr line per landing entry that is not a regular file (not loaded, not in the ledger)."""
    if not skipped:
        return False
    print("\nskipped landing entries (not regular files: never opened, not in the ledger):", file=sys.stderr)
    for r in skipped:
        print(f"  {r.file_key}: {r.error}", file=sys.stderr)
    return True


def run_ingest(args, settings: Settings) -> int:
    contracts = load_contracts(names=args.contracts)
    landing = open_landing(args.landing or settings.landing, endpoint_url=settings.endpoint_url)
    progress = Progress(enabled=not getattr(args, "quiet", False))
    started = time.perf_counter()
    writer = open_writer(settings, landing)
    try:
        pending, report = ingest(
            writer, contracts, landing, dry_run=args.dry_run, retry_refused=args.retry_refused,
            on_file_start=progress.start, on_progress=progress.advance, on_file_done=progress.finish,
        )
    except psycopg.errors.InsufficientPrivilege as err:
        raise TerraMinerError(
            f"the warehouse user {settings.warehouse.user!r} may not do what the load needs "
            f"({_first_line(err)}): run `terraminer roles` as the warehouse admin, and load as terraminer_loader "
            "or the admin"
        ) from None
    finally:
        progress.close()
        writer.close()
    if args.dry_run:
        print(f"{len(pending)} pending file(s) in {landing.uri}")
        for item in pending:
            print(f"  {item.state:<8} {item.contract.name:<32} {item.obj.key} ({item.obj.size:,} bytes)")
        _print_skipped(report.skipped)
        return 0
    if not report.results:
        print(f"nothing to load: every file in {landing.uri} is already in the ledger")
        return 2 if _print_skipped(report.skipped) else 0
    print(format_table(report.results))
    totals = report.totals()
    print(
        f"\n{totals['loaded_files']} loaded, {totals['refused_files']} refused; rows read {totals['rows_read']:,}, "
        f"loaded {totals['rows_loaded']:,}, rejected {totals['rows_rejected']:,} in {time.perf_counter() - started:.1f} s"
    )
    skipped = _print_skipped(report.skipped)
    if report.refused:
        print("\nrefused files (nothing from them was loaded):", file=sys.stderr)
        for r in report.refused:
            print(f"  {r.file_key}: {r.error}", file=sys.stderr)
        print(
            "fix the file or its contract in ingestion/contracts/ and run `terraminer ingest` again "
            "(a changed contract retries refused files); details: ingestion_meta.load_ledger / rejected_rows",
            file=sys.stderr,
        )
        return 2
    if skipped:
        return 2
    if totals["rows_rejected"]:
        print("rejected rows are in ingestion_meta.rejected_rows (file, line, column, reason, raw text)")
    return 0
