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
    """A one-line progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stderr.isatty()
        self.total = 0
        self.done = 0
        self.label = ""
        self._last = 0.0

    def start(self, item: PendingFile, index: int, count: int) -> None:
        self.total, self.done = max(item.obj.size, 1), 0
        self.label = f"[{index}/{count}] {item.obj.key}"
        self._draw(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        share = min(self.done / self.total, 1.0)
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r{bar:<30} {share:6.1%} {self.label[-70:]:<70}")
        sys.stderr.flush()

    def finish(self, _result: FileResult) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 110 + "\r")
            sys.stderr.flush()


def format_table(results: list[FileResult]) -> str:
    headers = ("file", "status", "read", "loaded", "rejected", "seconds")
    rows = [
        (r.file_key, r.status + (" (replaced)" if r.replaced else ""), f"{r.rows_read:,}", f"{r.rows_loaded:,}",
         f"{r.rows_rejected:,}", f"{r.seconds:.2f}")
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5}

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
