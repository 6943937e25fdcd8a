"""PostgreSQL writer: stream a landing file through ``COPY … FROM STDIN`` into ``raw.<contract>``.

Exactly once: a file version (landing key + content version) is the unit of work. Its rows, its
rejected rows and its ledger row commit in one transaction, under an advisory lock per raw table.

- Type validation is PostgreSQL's own. The fast path (:mod:`ingestion.passthrough`) COPYs the
  file's bytes plainly: its first bad value fails that COPY and the file goes to the parsing path,
  whose ``COPY (ON_ERROR ignore, LOG_VERBOSITY verbose)`` skips a row whose value does not fit its
  column and reports it as a NOTICE; the notice's line maps back to the source line, and a second pass over the file (only when something was rejected) fetches
  the raw text and asks ``pg_input_error_info`` for the exact reason.
- ``replace_file``: a changed version of a loaded key replaces that file's rows.
  ``append``: immutable facts; a changed version of a loaded key is refused.
  ``merge``: every row lands in ``raw.<contract>__changes``; the live table ``raw.<contract>`` is
  recomputed for the touched keys: the latest change per key in landing-key order wins and
  deletes remove the key.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from ingestion import passthrough
from ingestion.contract import Contract
from ingestion.landing import FileChanged, Landing, LandingObject
from ingestion.parsing import (
    DECOMPRESSION_ERRORS,
    Batch,
    CountingReader,
    FileRefused,
    ParseStats,
    ReadAhead,
    Reject,
    datestyle_for,
    describe_decompression_error,
    is_gzip,
    open_binary,
    printable,
)
from ingestion.writers.base import (
    META_COLUMNS,
    META_SCHEMA,
    RAW_SCHEMA,
    CopyOutcome,
    FileResult,
    LineMap,
    RejectLog,
    TableMismatch,
    certain_refusal,
    is_pending,
    read_ledger_versions,
    threshold_refusal,
)
from ingestion.writers.copy_stream import CopyWriter
from ingestion.writers.files import capture_lines, open_batches
from ingestion.writers.text import (
    first_invalid_byte,
    is_text_type,
    normal_type,
    one_line,
    storable,
    utf8_encodable,
)

log = logging.getLogger(__name__)
_NOTICE = re.compile(r'at line (\d+) for column "(.*?)": (?:"(.*)"|null input)$', re.S)

LOAD_SCHEMAS = (RAW_SCHEMA, META_SCHEMA)
STATISTICS_SHARE = 0.1  # a load this large a share of its table refreshes the statistics (as autovacuum's analyze)
META_DDL = f"""
create table if not exists {META_SCHEMA}.load_ledger (
    load_id bigint generated always as identity primary key,
    contract varchar(128) not null,
    file_key varchar(1024) not null,
    file_version varchar(128) not null,
    file_size bigint,
    status varchar(16) not null check (status in ('loaded', 'refused')),
    rows_read bigint not null default 0,
    rows_loaded bigint not null default 0,
    rows_rejected bigint not null default 0,
    error text,
    contract_fingerprint varchar(32),
    started_at timestamptz not null,
    finished_at timestamptz not null,
    seconds numeric(12, 3),
    superseded_at timestamptz
);
create unique index if not exists load_ledger_current_version
    on {META_SCHEMA}.load_ledger (contract, file_key, file_version) where superseded_at is null;
create table if not exists {META_SCHEMA}.rejected_rows (
    load_id bigint not null,
    contract varchar(128) not null,
    file_key varchar(1024) not null,
    file_version varchar(128) not null,
    line_number bigint not null,
    column_name varchar(128),
    reason text not null,
    value text,
    raw_text text,
    rejected_at timestamptz not null default now()
);
create index if not exists rejected_rows_load_idx on {META_SCHEMA}.rejected_rows (load_id);
"""


class _Refusal(Exception):
    def __init__(self, reason: str, outcome: CopyOutcome | None = None):
        super().__init__(reason)
        self.outcome = outcome


def q(*parts: str) -> sql.Composed:
    return sql.SQL(".").join(sql.Identifier(p) for p in parts)


class PostgresWriter:
    """Loads files of one landing zone into one PostgreSQL database (the ``Writer`` protocol).
    Not thread-safe: one per connection."""

    def __init__(self, conn: psycopg.Connection, landing: Landing):
        self.conn = conn
        self.landing = landing
        self._collect = False
        self._skipped = 0  # rows COPY skipped (ON_ERROR ignore) during the current copy
        self._sink: tuple[RejectLog, LineMap] | None = None  # where the parsing path's notices go
        self._pg_rejects = 0
        conn.add_notice_handler(self._on_notice)

    # ------------------------------------------------------------------ schema
    def _on_notice(self, diag) -> None:
        if not self._collect or not diag.message_primary or not diag.message_primary.startswith("skipping row"):
            return
        self._skipped += 1
        if self._sink is None:
            return
        match = _NOTICE.search(diag.message_primary)
        if match is not None:
            rejects, lines = self._sink
            rejects.add(Reject(lines.source(int(match.group(1))), match.group(2), "", match.group(3)))
            self._pg_rejects += 1

    def ensure_meta(self) -> None:
        """Create the load schemas and ledger tables that do not exist yet.

        Only missing objects are created: ``create schema if not exists`` needs CREATE on the
        database even when the schema exists, which the loader role does not have (``terraminer
        roles`` creates the schemas and grants the loader CREATE on them)."""
        with self.conn.transaction():
            self.conn.execute("select pg_advisory_xact_lock(hashtextextended('terraminer:ddl', 0))")
            present = {
                name for (name,) in self.conn.execute(
                    "select nspname from pg_namespace where nspname = any(%s)", (list(LOAD_SCHEMAS),)
                )
            }
            for schema in LOAD_SCHEMAS:
                if schema not in present:
                    self.conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
            tables = self.conn.execute(
                "select to_regclass(%s) is not null and to_regclass(%s) is not null "
                "and to_regclass(%s) is not null",
                (f"{META_SCHEMA}.load_ledger", f"{META_SCHEMA}.rejected_rows", f"{META_SCHEMA}.rejected_rows_load_idx"),
            ).fetchone()[0]
            if not tables:
                self.conn.execute(META_DDL)
            self._migrate_ledger_key()

    def _migrate_ledger_key(self) -> None:
        """Ledgers created before A → B → A reloads had ``unique (contract, file_key, file_version)``
        over every row, superseded ones included, so a version coming back could not be recorded.
        The key is now unique among current rows only (a partial unique index). Only the table's
        owner may change it: another role loads on and a returning version is refused until then."""
        old = self.conn.execute(
            "select conname from pg_constraint where conrelid = to_regclass(%s) and contype = 'u'",
            (f"{META_SCHEMA}.load_ledger",),
        ).fetchall()
        if not old:
            return
        try:
            with self.conn.transaction():
                for (name,) in old:
                    self.conn.execute(
                        sql.SQL("alter table {} drop constraint {}").format(q(META_SCHEMA, "load_ledger"), sql.Identifier(name))
                    )
                self.conn.execute(
                    f"create unique index if not exists load_ledger_current_version on {META_SCHEMA}.load_ledger "
                    "(contract, file_key, file_version) where superseded_at is null"
                )
        except psycopg.errors.InsufficientPrivilege:
            log.warning("%s.load_ledger has the old unique key and this role does not own it: run `terraminer "
                        "ingest` once as its owner so that versions coming back (A → B → A) reload", META_SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def lock(self, contract: Contract) -> Iterator[None]:
        """A transaction holding the contract's raw-table lock."""
        with self.conn.transaction():
            self.lock_table(contract)
            yield

    def ensure_table(self, contract: Contract) -> None:
        """Create (or add new contract columns to) the raw table; call under the table lock.
        A column whose type differs from the contract raises TableMismatch."""
        tables = [contract.raw_table]
        if contract.load.mode == "merge":
            tables.append(contract.changes_table)
        for table in tables:
            existing = {
                name: dtype
                for name, dtype in self.conn.execute(
                    "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
                    "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
                    "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped",
                    (RAW_SCHEMA, table),
                )
            }
            if not existing:
                self.conn.execute(_create_table_sql(contract, table))
                # rows arrive in load order, so a BRIN index on the load time is a few pages and
                # costs COPY nothing; incremental dbt models and tests filter on it
                self.conn.execute(
                    sql.SQL("create index on {} using brin (_loaded_at)").format(q(RAW_SCHEMA, table))
                )
                if table == contract.changes_table:
                    self.conn.execute(
                        sql.SQL("create index on {} ({})").format(
                            q(RAW_SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, contract.key))
                        )
                    )
                    self.conn.execute(sql.SQL("create index on {} (_file_key)").format(q(RAW_SCHEMA, table)))
                elif contract.load.mode == "merge":
                    self.conn.execute(
                        sql.SQL("create unique index on {} ({})").format(
                            q(RAW_SCHEMA, table), sql.SQL(", ").join(map(sql.Identifier, contract.key))
                        )
                    )
                continue
            for col in contract.columns:
                have = existing.get(col.name)
                if have is None:
                    self.conn.execute(
                        sql.SQL("alter table {} add column {} {}").format(
                            q(RAW_SCHEMA, table), sql.Identifier(col.name), sql.SQL(_pg_type(col.type))
                        )
                    )
                elif normal_type(have) != normal_type(_pg_type(col.type)):
                    raise TableMismatch(
                        f"raw.{table}.{col.name} is {have} but the contract says {col.type}: "
                        "migrate the column (alter table) or revert the contract"
                    )

    def lock_table(self, contract: Contract) -> None:
        """Serialise work on a contract's raw table (loads, DDL) until the current transaction ends."""
        self.conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"terraminer:raw.{contract.name}",))

    def ensure_key_index(self, contract: Contract) -> bool:
        """The btree index on the key a contract asks for (``index_key``); call under the table lock.
        Merge tables have their unique key index already. Only the table's owner may create an index:
        when the index is missing and this role does not own the table (tables the admin created,
        loaded as terraminer_loader), loading goes on without it and this returns False."""
        if not contract.index_key or contract.load.mode == "merge":
            return True
        name = f"{contract.raw_table}__key_idx"
        row = self.conn.execute(
            "select to_regclass(format('%%I.%%I', 'raw', %s::text)) is not null, "
            "pg_has_role(current_user, c.relowner, 'USAGE') "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'raw' and c.relname = %s",
            (name, contract.raw_table),
        ).fetchone()
        if row is None or row[0]:  # no table (nothing loaded yet) or the index exists
            return True
        if not row[1]:
            return False
        self.conn.execute(
            sql.SQL("create index if not exists {} on {} ({})").format(
                sql.Identifier(name), q(RAW_SCHEMA, contract.raw_table), sql.SQL(", ").join(map(sql.Identifier, contract.key))
            )
        )
        return True

    # ------------------------------------------------------------------ statistics
    def refresh_statistics(self, contract: Contract, rows_loaded: int) -> None:
        """``vacuum (analyze)`` the raw table when this run's rows are at least ``STATISTICS_SHARE``
        of what its statistics knew (or it was never analyzed): fresh planner statistics, and the
        new rows' hint bits and visibility set once here instead of by the first dbt models that
        read them. ``analyze`` alone when the connection is inside a caller's transaction (vacuum
        cannot run there). Only the table's owner may; for other roles PostgreSQL skips it with a
        warning and autovacuum does it later."""
        with self.conn.transaction():
            row = self.conn.execute(
                "select c.reltuples, pg_has_role(current_user, c.relowner, 'USAGE') "
                "from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'raw' and c.relname = %s",
                (contract.raw_table,),
            ).fetchone()
        if row is None or not row[1] or (row[0] >= 0 and rows_loaded < STATISTICS_SHARE * row[0]):
            return
        table = q(RAW_SCHEMA, contract.raw_table)
        if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE or self.conn.autocommit:
            with self.conn.transaction():
                self.conn.execute(sql.SQL("analyze {}").format(table))
            return
        self.conn.autocommit = True
        try:
            self.conn.execute(sql.SQL("vacuum (analyze) {}").format(table))
        finally:
            self.conn.autocommit = False

    # ------------------------------------------------------------------ ledger
    def ledger_versions(self, contract: Contract) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(file_key, file_version) → (status, contract_fingerprint) for every ledger row of a contract."""
        versions = read_ledger_versions(self.conn, contract)
        self.conn.commit()
        return versions

    # ------------------------------------------------------------------ loading
    def load(
        self,
        contract: Contract,
        obj: LandingObject,
        *,
        retry_refused: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> FileResult:
        started = time.perf_counter()
        landing = self.landing
        result = FileResult(contract.name, obj.key, obj.version, "skipped")
        with self.conn.transaction():
            self.lock_table(contract)
            rows = self.conn.execute(
                f"select load_id, file_version, status, contract_fingerprint from {META_SCHEMA}.load_ledger "
                "where contract = %s and file_key = %s and superseded_at is null",
                (contract.name, obj.key),
            ).fetchall()
            same = next((r for r in rows if r[1] == obj.version), None)
            if same is not None and not is_pending((same[2], same[3]), contract, retry_refused):
                result.seconds = time.perf_counter() - started
                return result
            if same is not None:  # a refused version retried: forget the earlier attempt
                self.conn.execute(f"delete from {META_SCHEMA}.rejected_rows where load_id = %s", (same[0],))
                self.conn.execute(f"delete from {META_SCHEMA}.load_ledger where load_id = %s", (same[0],))
            previous = next((r for r in rows if r[2] == "loaded" and r[1] != obj.version), None)
            started_at = self.conn.execute("select clock_timestamp()").fetchone()[0]
            try:
                try:
                    self.ensure_table(contract)
                except TableMismatch as err:
                    raise _Refusal(str(err)) from None
                with self.conn.transaction():
                    if previous is not None and contract.load.mode == "append":
                        raise _Refusal(
                            f"append-only contract: {obj.key} changed after it was loaded (was version "
                            f"{previous[1]}); deliver corrections under a new key or use load mode replace_file"
                        )
                    outcome = self._load_rows(contract, landing, obj, previous is not None, on_progress)
                    load_id = self._record(contract, obj, "loaded", outcome, None, started_at, started)
                    if previous is not None:
                        self.conn.execute(
                            f"update {META_SCHEMA}.load_ledger set superseded_at = now() where load_id = %s",
                            (previous[0],),
                        )
                    self._write_rejects(load_id, contract, obj, outcome.rejects)
            except _Refusal as refusal:
                outcome = refusal.outcome
                error = printable(str(refusal))  # names and values from the file: one storable line
                load_id = self._record(contract, obj, "refused", outcome, error, started_at, started)
                if outcome is not None:
                    self._write_rejects(load_id, contract, obj, outcome.rejects)
                result.status = "refused"
                result.error = error
            else:
                result.status = "loaded"
                result.replaced = previous is not None
            if outcome is not None:
                result.count(outcome)
        result.seconds = time.perf_counter() - started
        return result

    def refuse(self, contract: Contract, obj: LandingObject, reason: str) -> FileResult:
        """Record ``obj`` refused with ``reason``, unread (the runner's per-file isolation)."""
        started = time.perf_counter()
        error = printable(reason)
        result = FileResult(contract.name, obj.key, obj.version, "refused", error=error)
        with self.conn.transaction():
            self.lock_table(contract)
            same = self.conn.execute(
                f"select load_id, status from {META_SCHEMA}.load_ledger where contract = %s and file_key = %s "
                "and file_version = %s and superseded_at is null",
                (contract.name, obj.key, obj.version),
            ).fetchone()
            if same is not None and same[1] == "loaded":  # another loader loaded it meanwhile
                result.status, result.error = "skipped", None
            else:
                if same is not None:
                    self.conn.execute(f"delete from {META_SCHEMA}.rejected_rows where load_id = %s", (same[0],))
                    self.conn.execute(f"delete from {META_SCHEMA}.load_ledger where load_id = %s", (same[0],))
                started_at = self.conn.execute("select clock_timestamp()").fetchone()[0]
                self._record(contract, obj, "refused", None, error, started_at, started)
        result.seconds = time.perf_counter() - started
        return result

    def _record(self, contract, obj, status, outcome, error, started_at, started) -> int:
        rows_read = outcome.rows_read if outcome else 0
        rows_loaded = outcome.rows_loaded if outcome and status == "loaded" else 0
        rows_rejected = outcome.rows_rejected if outcome else 0
        return self.conn.execute(
            f"insert into {META_SCHEMA}.load_ledger (contract, file_key, file_version, file_size, status, "
            "rows_read, rows_loaded, rows_rejected, error, contract_fingerprint, started_at, finished_at, seconds) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp(), %s) returning load_id",
            (
                contract.name, obj.key, obj.version, obj.size, status, rows_read, rows_loaded, rows_rejected,
                None if error is None else printable(error), contract.fingerprint, started_at, round(time.perf_counter() - started, 3),
            ),
        ).fetchone()[0]

    def _write_rejects(self, load_id: int, contract: Contract, obj: LandingObject, rejects) -> None:
        """The rejected rows: explained ones with their raw text, then a RejectLog's spooled ones."""
        if not rejects:
            return
        cols = "load_id, contract, file_key, file_version, line_number, column_name, reason, value, raw_text"
        head = (load_id, contract.name, obj.key, obj.version)
        spooled = rejects.log.spooled() if isinstance(rejects, _Explained) else ()
        with self.conn.cursor().copy(f"copy {META_SCHEMA}.rejected_rows ({cols}) from stdin") as cp:
            for r in rejects:
                cp.write_row((*head, r.line, r.column, storable(r.reason), storable(r.value),
                              storable(getattr(r, "raw_text", None))))
            for line, column, reason, value in spooled:
                reason = reason or "value does not fit the column's type (PostgreSQL COPY)"
                cp.write_row((*head, line, column, storable(reason), storable(value), None))
        if isinstance(rejects, _Explained):
            rejects.log.close()

    def _load_rows(self, contract, landing, obj, replacing: bool, on_progress) -> CopyOutcome:
        target = contract.changes_table if contract.load.mode == "merge" else contract.raw_table
        self.conn.execute("select set_config('terraminer.file_key', %s, true)", (obj.key,))
        self.conn.execute("select set_config('terraminer.file_version', %s, true)", (obj.version,))
        self.conn.execute("select set_config('datestyle', %s, true)", (datestyle_for(contract),))
        touched_before = None
        if replacing:
            if contract.load.mode == "merge":
                touched_before = self._keys_of_file(contract, obj.key)
            self.conn.execute(sql.SQL("delete from {} where _file_key = %s").format(q(RAW_SCHEMA, target)), (obj.key,))
        outcome = self._copy(contract, landing, obj, target, on_progress)
        refusal = threshold_refusal(contract, outcome)
        if refusal is not None:
            raise _Refusal(refusal, outcome)
        if contract.load.mode == "merge":
            self._apply_merge(contract, obj.key, touched_before)
        return outcome

    def _copy(self, contract, landing, obj, target, on_progress) -> CopyOutcome:
        if passthrough.eligible(contract):
            try:
                with self.conn.transaction():
                    return self._copy_fast(contract, landing, obj, target, on_progress)
            except passthrough.Fallback:
                pass  # rolled back: load through the parsing path, which explains every row
        return self._copy_parsed(contract, landing, obj, target, on_progress)

    def _copy_fast(self, contract, landing, obj, target, on_progress) -> CopyOutcome:
        """Stream the file's bytes to COPY unchanged (see ingestion.passthrough); the first skipped
        row sends the file to the parsing path (which explains it) without streaming the rest."""
        self._skipped, self._sink = 0, None
        self._collect = True
        try:
            with contextlib.closing(ReadAhead(landing.open(obj))) as raw:
                binary = open_binary(CountingReader(raw, on_progress), contract, obj.key)
                plan = passthrough.plan(binary, contract)
                fmt = contract.format
                cols = sql.SQL(", ").join(map(sql.Identifier, ["_row_number", *plan.columns]))
                # quoted empty strings are NULL too (as in the parsing path); typed columns reject ''
                text_cols = [c.name for c in contract.columns if c.name in plan.columns and is_text_type(c.type)]
                force_null = (
                    sql.SQL(", force_null ({})").format(sql.SQL(", ").join(map(sql.Identifier, text_cols)))
                    if text_cols else sql.SQL("")
                )
                # no ON_ERROR ignore: the first bad value fails the COPY at once (DataError) and the
                # file goes to the parsing path, which explains every row; the clean case skips the
                # per-value soft-error bookkeeping
                copy_sql = sql.SQL(
                    "copy {} ({}) from stdin (format csv, delimiter {}, quote {}{})"
                ).format(q(RAW_SCHEMA, target), cols, sql.Literal(fmt.delimiter), sql.Literal(fmt.quote), force_null)
                with self.conn.cursor() as cur:
                    with cur.copy(copy_sql, writer=CopyWriter(cur)) as copy:
                        for chunk in plan.body:
                            copy.write(chunk)
                            if self._skipped:
                                raise passthrough.Fallback("rows rejected: explain them through the parsing path")
                    rows_loaded = cur.rowcount
        except (FileRefused, FileChanged) as err:
            raise _Refusal(str(err)) from None
        except DECOMPRESSION_ERRORS as err:
            raise _Refusal(describe_decompression_error(err)) from None
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as err:
            raise passthrough.Fallback(one_line(err)) from None
        finally:
            self._collect = False
        if self._skipped or rows_loaded != plan.counter.total:
            raise passthrough.Fallback("rows rejected: explain them through the parsing path")
        return CopyOutcome(rows_loaded, 0, notes=_notes(plan.stats))

    def _copy_parsed(self, contract, landing, obj, target, on_progress) -> CopyOutcome:
        columns = ["_row_number"] + [c.name for c in contract.columns]
        copy_sql = sql.SQL(
            "copy {} ({}) from stdin (format text, on_error ignore, log_verbosity verbose)"
        ).format(q(RAW_SCHEMA, target), sql.SQL(", ").join(map(sql.Identifier, columns)))
        stats = ParseStats()
        rejects = RejectLog(contract.limits.reject_details)
        lines = LineMap()  # COPY line n → source line
        self._skipped, self._pg_rejects, self._sink = 0, 0, (rejects, lines)
        self._collect = True
        rows_read = 0
        consumed = 0

        def progress(n: int) -> None:
            nonlocal consumed
            consumed += n
            if on_progress is not None:
                on_progress(n)

        good_row_bytes = _min_good_record_bytes(contract, obj.key)
        try:
            with contextlib.ExitStack() as stack:
                batches = stack.enter_context(open_batches(contract, landing, obj, stats, on_progress=progress))
                cur = stack.enter_context(self.conn.cursor())
                with cur.copy(copy_sql, writer=CopyWriter(cur)) as copy:
                    for batch in batches:
                        rows_read += len(batch.rows) + len(batch.rejects)
                        rejects.extend(batch.rejects)
                        found: list[Reject] = []
                        data, kept = _encode_batch(batch, contract, found)
                        rejects.extend(found)
                        if data:
                            lines.extend([int(row[0]) for row in kept])  # before the data: notices map back
                            copy.write(data)
                        if good_row_bytes and rows_read >= contract.limits.reject_sample_rows:
                            left = (obj.size - consumed + _READ_AHEAD) / good_row_bytes
                            reason = certain_refusal(contract, rows_read, rejects.count, max(left, 0))
                            if reason is not None:
                                raise _Refusal(reason)
                rows_loaded = cur.rowcount
        except _Refusal as refusal:  # refused early: what was read so far is the story
            self._collect, self._sink = False, None
            explained = self._explain(contract, landing, obj, rejects)
            raise _Refusal(str(refusal), CopyOutcome(rows_read - rejects.count, rejects.count, self._pg_rejects,
                                                     rejects.first(), explained, _notes(stats))) from None
        except (FileRefused, FileChanged) as err:
            raise _Refusal(str(err)) from None
        except DECOMPRESSION_ERRORS as err:
            raise _Refusal(describe_decompression_error(err)) from None
        except UnicodeError as err:
            raise _Refusal(f"cannot decode as {contract.format.encoding}: {err}; set format.encoding") from None
        except psycopg.errors.DataError as err:
            raise _Refusal(f"PostgreSQL refused the data: {one_line(err)}") from None
        except psycopg.errors.IntegrityError as err:
            raise _Refusal(f"PostgreSQL refused the data: {one_line(err)}") from None
        finally:
            self._collect, self._sink = False, None
        if rows_loaded + self._skipped != lines.count or self._pg_rejects != self._skipped:
            raise _Refusal(
                f"internal reconciliation failed: sent {lines.count} rows, COPY loaded {rows_loaded} and "
                f"skipped {self._skipped}; nothing was loaded, please report this file"
            )
        explained = self._explain(contract, landing, obj, rejects) if rejects.count else ()
        return CopyOutcome(rows_loaded, rejects.count, self._pg_rejects, rejects.first(), explained, _notes(stats))

    def _explain(self, contract, landing, obj, log: RejectLog) -> _Explained:
        """Second pass over the kept rejects (``limits.reject_details``): raw text of every such line,
        and PostgreSQL's reason for type errors. Later rejects stay in the log's spool."""
        rejects = log.kept
        found = capture_lines(contract, landing, obj, {r.line for r in rejects}) if rejects else {}
        positions = {c.name: i for i, c in enumerate(contract.columns)}
        types = {c.name: c.type for c in contract.columns}
        pending = []
        explained = _Explained(log)
        for r in rejects:
            raw, values = found.get(r.line, (None, None))
            value = r.value
            if not r.reason and values is not None and r.column in positions:
                value = values[positions[r.column] + 1]
            item = _ExplainedReject(r.line, r.column, r.reason, value, raw)
            if not item.reason:
                pending.append(item)
            explained.append(item)
        if pending:
            messages = self.conn.execute(
                "select coalesce((pg_input_error_info(v, t)).message, 'value does not fit type ' || t) "
                "from unnest(%s::text[], %s::text[]) with ordinality as u(v, t, n) order by n",
                ([storable(p.value) or "" for p in pending], [_pg_type(types.get(p.column, "text")) for p in pending]),
            ).fetchall()
            for item, (message,) in zip(pending, messages, strict=True):
                item.reason = message
        explained.sort(key=lambda e: e.line)
        return explained

    # ------------------------------------------------------------------ merge
    def _keys_of_file(self, contract: Contract, file_key: str):
        keys = sql.SQL(", ").join(map(sql.Identifier, contract.key))
        return self.conn.execute(
            sql.SQL("select distinct {} from {} where _file_key = %s").format(keys, q(RAW_SCHEMA, contract.changes_table)),
            (file_key,),
        ).fetchall()

    def _apply_merge(self, contract: Contract, file_key: str, touched_before) -> None:
        key_cols = [sql.Identifier(k) for k in contract.key]
        keys = sql.SQL(", ").join(key_cols)
        changes, live = q(RAW_SCHEMA, contract.changes_table), q(RAW_SCHEMA, contract.raw_table)
        self.conn.execute("drop table if exists _touched")
        self.conn.execute(
            sql.SQL("create temp table _touched on commit drop as select distinct {} from {} where _file_key = %s")
            .format(keys, changes),
            (file_key,),
        )
        if touched_before:
            with self.conn.cursor().copy(sql.SQL("copy _touched ({}) from stdin").format(keys)) as cp:
                for row in touched_before:
                    cp.write_row(row)
        join = sql.SQL(" and ").join(sql.SQL("x.{0} = t.{0}").format(k) for k in key_cols)
        self.conn.execute(sql.SQL("delete from {} x using _touched t where {}").format(live, join))
        cols = [c.name for c in contract.columns] + list(META_COLUMNS)
        col_list = sql.SQL(", ").join(map(sql.Identifier, cols))
        deletes = contract.load.change_type.delete
        self.conn.execute(
            sql.SQL(
                "insert into {live} ({cols}) select {cols} from ("
                " select x.*, row_number() over (partition by {xkeys} order by x._file_key desc, x._row_number desc)"
                " as _rank from {changes} x join (select distinct {keys} from _touched) t on {join}"
                ") ranked where _rank = 1 and ({change_col} is null or {change_col} <> all(%s))"
            ).format(
                live=live, cols=col_list, keys=keys, changes=changes, join=join,
                xkeys=sql.SQL(", ").join(sql.SQL("x.{}").format(k) for k in key_cols),
                change_col=sql.Identifier(contract.load.change_type.column),
            ),
            (deletes,),
        )


_READ_AHEAD = 4 << 20  # bytes read from the source but not parsed yet (buffers), at most


class _Explained(list):
    """The explained (kept) rejects of a file, with the RejectLog holding the spooled rest."""

    def __init__(self, log: RejectLog):
        super().__init__()
        self.log = log


def _min_good_record_bytes(contract: Contract, key: str) -> int:
    """The fewest bytes a record that loads can take (delimiters, a line end, one character per
    required value), for the early-refusal bound of an uncompressed file; 0 when there is no such
    bound (compressed files, Parquet)."""
    fmt = contract.format
    if is_gzip(contract, key) or fmt.type == "parquet" or fmt.unpivot:
        return 0
    required = sum(1 for c in contract.columns if not c.nullable)
    if fmt.type == "jsonl":
        return 3 + sum(len(c.source_name) + 4 for c in contract.columns if not c.nullable)
    width = len(contract.columns) if not fmt.header else len(contract.columns) - sum(c.nullable for c in contract.columns)
    return max(width - 1, 0) + 1 + required


@dataclass
class _ExplainedReject:
    line: int
    column: str | None
    reason: str
    value: str | None
    raw_text: str | None


def _encode_batch(batch: Batch, contract: Contract, rejects: list) -> tuple[bytes, list[tuple]]:
    """COPY text-format bytes for a batch: one line per row, ``\\N`` for NULL.

    Fast path: join everything, then prove with a few C-level scans that no value needed escaping.
    Rows with NUL bytes or undecodable bytes are rejected one by one.
    """
    rows = batch.rows
    if not rows:
        return b"", []
    width = len(rows[0])
    text = "\n".join(map("\t".join, rows))
    clean = (
        "\\" not in text
        and "\r" not in text
        and "\x00" not in text
        and text.count("\n") == len(rows) - 1
        and text.count("\t") == len(rows) * (width - 1)
    )
    if clean:
        try:
            return _nulls(text).encode("utf-8") + b"\n", rows
        except UnicodeEncodeError:
            pass
    kept, lines = [], []
    names = [c.name for c in contract.columns]
    for row in rows:
        bad = next((i for i, v in enumerate(row) if "\x00" in v or not utf8_encodable(v)), None)
        if bad is None:
            lines.append("\t".join(_escape(v) if v else "" for v in row))
            kept.append(row)
            continue
        value = row[bad]
        if "\x00" in value:
            reason = "NUL byte (0x00) in value: PostgreSQL text cannot hold it"
        else:
            reason = (
                f"invalid {contract.format.encoding} byte 0x{first_invalid_byte(value):02x}: "
                "if the whole file is another encoding, set format.encoding (e.g. latin-1)"
            )
        rejects.append(Reject(int(row[0]), names[bad - 1], reason, value))
    if not kept:
        return b"", []
    return _nulls("\n".join(lines)).encode("utf-8") + b"\n", kept


def _escape(value: str) -> str:
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _nulls(text: str) -> str:
    """Empty fields → \\N. The first field (line number) is never empty, so an empty field is
    always preceded by a tab: ``\\t\\t`` (twice, for runs), ``\\t\\n`` and a trailing tab."""
    text = text.replace("\t\t", "\t\\N\t").replace("\t\t", "\t\\N\t").replace("\t\n", "\t\\N\n")
    if text.endswith("\t"):
        text += "\\N"
    return text


def _notes(stats: ParseStats) -> tuple[str, ...]:
    notes = []
    if stats.extra_columns:
        notes.append(f"ignored undeclared columns: {', '.join(stats.extra_columns)}")
    if stats.missing_columns:
        notes.append(f"absent nullable columns loaded as NULL: {', '.join(stats.missing_columns)}")
    return tuple(notes)


def _pg_type(contract_type: str) -> str:
    return "timestamp with time zone" if contract_type == "timestamptz" else contract_type


def _create_table_sql(contract: Contract, table: str) -> sql.Composed:
    cols = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name), sql.SQL(_pg_type(c.type)), sql.SQL("" if c.nullable else " not null")
        )
        for c in contract.columns
    ]
    cols += [
        sql.SQL("_file_key varchar(1024) not null default current_setting('terraminer.file_key')"),
        sql.SQL("_file_version varchar(128) not null default current_setting('terraminer.file_version')"),
        sql.SQL("_row_number bigint not null"),
        sql.SQL("_loaded_at timestamptz not null default now()"),
    ]
    return sql.SQL("create table {} ({})").format(q(RAW_SCHEMA, table), sql.SQL(", ").join(cols))
