"""What every writer shares: the ``Writer`` protocol the runner talks to, the per-file result,
the ledger rule for pending file versions and the reject threshold."""

from __future__ import annotations

import bisect
import json
import tempfile
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from core.errors import TerraMinerError
from ingestion.contract import RESERVED_COLUMNS, Contract
from ingestion.landing import LandingObject

RAW_SCHEMA = "raw"
META_SCHEMA = "ingestion_meta"
META_COLUMNS = RESERVED_COLUMNS  # load metadata every raw table carries after the contract columns
REJECT_ALLOWANCE = 10  # a file is refused only when rejects exceed both the share and this count

LedgerState = tuple[str, str | None]  # (status, contract_fingerprint) of one ledger row
# current rows only: a superseded version (A in A → B) is pending again when it comes back (B → A)
LEDGER_VERSIONS_SQL = (
    f"select file_key, file_version, status, contract_fingerprint from {META_SCHEMA}.load_ledger "
    "where contract = %s and superseded_at is null"
)


@dataclass
class FileResult:
    """What loading one file version did (every writer returns this)."""

    contract: str
    file_key: str
    file_version: str
    status: str  # loaded | refused | skipped
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    seconds: float = 0.0
    error: str | None = None
    replaced: bool = False
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: CopyOutcome) -> None:
        """Take the row counts (and notes) of the copy; a refused file loaded nothing."""
        self.rows_read = outcome.rows_read
        self.rows_loaded = outcome.rows_loaded if self.status == "loaded" else 0
        self.rows_rejected = outcome.rows_rejected
        self.notes.extend(outcome.notes)


@dataclass(frozen=True)
class CopyOutcome:
    """What one file's copy did, before the commit-or-refuse decision."""

    rows_loaded: int
    rows_rejected: int  # parser + database rejects
    copy_rejected: int = 0  # of which the database's COPY rejected
    first: tuple | None = None  # (line, column, reason) of the first reject
    rejects: tuple = ()  # the rejected rows, when the writer holds them in Python (PostgreSQL)
    notes: tuple[str, ...] = ()

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_rejected


class TableMismatch(Exception):
    """A raw table's column has another type than the contract says (its files are refused)."""


class WarehouseUnavailable(TerraMinerError):
    """The warehouse side failed for a reason that is not the file's (it cannot reach S3, the
    connection is gone): the run stops, nothing about the file is recorded."""


def warehouse_lost(writer, err: BaseException) -> bool:
    """True when ``err`` means the warehouse itself is gone (stop the run), not a problem of one file."""
    if isinstance(err, WarehouseUnavailable):
        return True
    conn = getattr(writer, "conn", None)
    if conn is not None and (getattr(conn, "closed", False) or getattr(conn, "broken", False)):
        return True
    module = type(err).__module__ or ""
    name = type(err).__name__
    # the drivers' connection-level errors (psycopg, redshift_connector): OperationalError/InterfaceError
    return module.split(".")[0] in ("psycopg", "redshift_connector") and name in ("OperationalError", "InterfaceError")


def failure_reason(err: BaseException) -> str:
    """One line saying why reading or loading one file failed unexpectedly (the ledger's error)."""
    from ingestion.writers.text import one_line

    if isinstance(err, RecursionError):
        return "cannot load the file: nested too deeply to parse (RecursionError)"
    if isinstance(err, MemoryError):
        return "cannot load the file: it needs more memory than the loader has (MemoryError)"
    if isinstance(err, OSError) and err.strerror:
        return f"cannot read the file: {err.strerror}" + (f" ({err.filename})" if err.filename else "")
    text = one_line(err)
    return f"cannot load the file: {type(err).__name__}" + (f": {text}" if text else "")


def is_pending(state: LedgerState | None, contract: Contract, retry_refused: bool) -> bool:
    """A file version is loaded once; a refused one again on ``retry_refused`` or a changed contract."""
    if state is None:
        return True
    status, fingerprint = state
    if status == "loaded":
        return False
    return retry_refused or fingerprint != contract.fingerprint


def threshold_refusal(contract: Contract, outcome: CopyOutcome) -> str | None:
    """Refused when rejects exceed both the contract's share and REJECT_ALLOWANCE rows."""
    rejected, read = outcome.rows_rejected, outcome.rows_read
    threshold = contract.reject_threshold
    if not rejected or rejected <= max(threshold * read, REJECT_ALLOWANCE):
        return None
    share = rejected / max(read, 1)
    message = f"{rejected} of {read} rows rejected ({share:.1%} > threshold {threshold:.1%})"
    if outcome.first:
        line, column, reason = outcome.first
        message += f"; first: line {line}" + (f" column {column}" if column else "") + f": {reason}"
    return message


def certain_refusal(contract: Contract, rows_read: int, rejected: int, good_rows_left: float) -> str | None:
    """The refusal of a file whose reject share is already certain to exceed its threshold: even if
    every remaining record (at most ``good_rows_left``) loaded, rejects would exceed both the share
    and REJECT_ALLOWANCE. None before ``limits.reject_sample_rows`` rows were read."""
    if rows_read < contract.limits.reject_sample_rows:
        return None
    threshold = contract.reject_threshold
    if rejected <= max(threshold * (rows_read + good_rows_left), REJECT_ALLOWANCE):
        return None
    return (
        f"refused after {rows_read} rows: {rejected} rejected ({rejected / rows_read:.1%}), more than "
        f"threshold {threshold:.1%} of the whole file can allow"
    )


class RejectLog:
    """The rejected rows of one file with an exact count and bounded memory: the first ``detail``
    are kept (explained with their raw text), later ones go to a temporary file with line, column,
    reason and the value's first 1,000 characters. Thread-safe (COPY notices may arrive on the
    driver's thread)."""

    VALUE_CUT = 1000

    def __init__(self, detail: int):
        self.detail = detail
        self.kept: list = []
        self.count = 0
        self._spool = None
        self._lock = threading.Lock()

    def add(self, reject) -> None:
        with self._lock:
            self.count += 1
            if len(self.kept) < self.detail:
                self.kept.append(reject)
                return
            if self._spool is None:
                self._spool = tempfile.TemporaryFile("w+", encoding="utf-8", errors="surrogateescape")
            value = reject.value if reject.value is None else reject.value[: self.VALUE_CUT]
            self._spool.write(json.dumps([reject.line, reject.column, reject.reason, value]) + "\n")

    append = add

    def extend(self, rejects: Iterable) -> None:
        for reject in rejects:
            self.add(reject)

    def first(self) -> tuple | None:
        if not self.kept:
            return None
        r = min(self.kept, key=lambda r: r.line)
        return (r.line, r.column, r.reason)

    def spooled(self) -> Iterator[tuple]:
        """(line, column, reason, value) of the rows beyond ``detail``."""
        if self._spool is None:
            return
        self._spool.seek(0)
        for text in self._spool:
            yield tuple(json.loads(text))

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None


class LineMap:
    """COPY line n → source line, stored as runs of consecutive source lines (a file whose records
    are single lines is one run, whatever its size)."""

    def __init__(self):
        self._copy = array("q")  # first COPY line of each run
        self._source = array("q")  # its source line
        self.count = 0

    def extend(self, lines: list[int]) -> None:
        if not lines:
            return
        first, last = lines[0], lines[-1]
        if self.count and self._source[-1] + (self.count + 1 - self._copy[-1]) == first \
                and last - first == len(lines) - 1:
            self.count += len(lines)  # continues the current run
            return
        if last - first == len(lines) - 1:
            self._copy.append(self.count + 1)
            self._source.append(first)
            self.count += len(lines)
            return
        for line in lines:
            self.extend([line])

    def source(self, copy_line: int) -> int:
        run = bisect.bisect_right(self._copy, copy_line) - 1
        return self._source[run] + copy_line - self._copy[run]


def read_ledger_versions(conn, contract: Contract) -> dict[tuple[str, str], LedgerState]:
    """(file_key, file_version) → (status, contract_fingerprint) for every ledger row of a contract
    (any DB-API connection)."""
    cursor = conn.cursor()
    cursor.execute(LEDGER_VERSIONS_SQL, (contract.name,))
    return {(k, v): (s, f) for k, v, s, f in cursor.fetchall()}


@runtime_checkable
class Writer(Protocol):
    """Loads landing files of one landing zone into one warehouse (``ingestion.writers.open_writer``).

    The runner calls, per run: ``ensure_meta``; per contract ``lock`` + ``ensure_table``;
    ``ledger_versions`` to find pending files; ``load`` per file (its own transaction and lock), or
    ``refuse`` for a file that cannot be loaded (its key, or ``load`` failed unexpectedly); per
    contract ``lock`` + ``ensure_key_index`` after the loads. ``close`` closes ``conn``."""

    conn: Any  # the DB-API connection it writes through (read-only checks may share it)

    def ensure_meta(self) -> None:
        """Create the load schemas and the ledger tables that do not exist yet."""

    def lock(self, contract: Contract) -> AbstractContextManager[None]:
        """A transaction holding the contract's table lock (DDL on its raw tables)."""

    def ensure_table(self, contract: Contract) -> None:
        """Create the raw table(s) or add new contract columns; call under ``lock``. PostgreSQL
        raises TableMismatch for a changed column type (its files are then refused); Redshift
        raises RedshiftPlanError (the run stops)."""

    def ledger_versions(self, contract: Contract) -> dict[tuple[str, str], LedgerState]:
        """(file_key, file_version) → (status, contract_fingerprint) of every ledger row."""

    def load(
        self,
        contract: Contract,
        obj: LandingObject,
        *,
        retry_refused: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> FileResult:
        """Load one file version exactly once (rows, rejects and ledger row in one transaction)."""

    def refuse(self, contract: Contract, obj: LandingObject, reason: str) -> FileResult:
        """Record ``obj`` as refused with ``reason`` without reading it (a file whose key or load
        failed); ``skipped`` when another loader has loaded that version meanwhile."""

    def ensure_key_index(self, contract: Contract) -> bool:
        """The index on the contract's ``index_key``; call under ``lock``. False when it is missing
        and this role may not create it."""

    def refresh_statistics(self, contract: Contract, rows_loaded: int) -> None:
        """Refresh the planner statistics of the contract's raw table when this run's ``rows_loaded``
        are a large share of it (after the run's loads, outside any transaction)."""

    def close(self) -> None:
        """Close the connection."""
