"""The Redshift ``Writer``: probe, normalise when needed, plan, upload the manifests, execute."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from ingestion.contract import Contract
from ingestion.landing import LandingObject
from ingestion.parsing import printable
from ingestion.writers.base import RAW_SCHEMA, FileResult, is_pending, read_ledger_versions
from ingestion.writers.redshift.ddl import (
    create_table_sql,
    evolve_table_sql,
    existing_columns_query,
    meta_ddl,
    raw_tables_ddl,
)
from ingestion.writers.redshift.execute import execute_plan
from ingestion.writers.redshift.manifest import new_batch_id
from ingestion.writers.redshift.normalize import NormalizedFile, normalize
from ingestion.writers.redshift.plan import FilePlan, plan_file
from ingestion.writers.redshift.probe import probe_shape, route
from ingestion.writers.redshift.sql import (
    ledger_table,
    qualified,
    run,
    stmt,
    validate_iam_role,
    validate_s3_uri,
)


class RedshiftWriter:
    """Loads landing files from an S3 landing zone into Redshift, one file version per transaction.

    ``conn``: a DB-API connection in autocommit mode (the plans carry their own BEGIN/COMMIT);
    ``landing``: the :class:`ingestion.landing.S3Landing` the cluster reads through ``iam_role``.
    """

    def __init__(self, conn, landing, iam_role: str, *, batch_id: str | None = None):
        self.conn = conn
        self.landing = landing
        self.landing_uri = validate_s3_uri(landing.uri)
        self.iam_role = validate_iam_role(iam_role)
        self.batch_id = batch_id or new_batch_id()

    def _cursor(self):
        return self.conn.cursor()

    def close(self) -> None:
        self.conn.close()

    @contextlib.contextmanager
    def lock(self, contract: Contract) -> Iterator[None]:
        """Nothing to hold: DDL runs in autocommit, and each file's plan locks its table itself."""
        yield

    def ensure_meta(self) -> None:
        run(self._cursor(), meta_ddl())

    def ensure_table(self, contract: Contract) -> None:
        cursor = self._cursor()
        tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
        for table in tables:
            run(cursor, [existing_columns_query(table)])
            existing = {name: dtype for name, dtype in cursor.fetchall()}
            if existing:
                run(cursor, evolve_table_sql(contract, table, existing))
            else:
                run(cursor, raw_tables_ddl(contract)[:1] + [create_table_sql(contract, table)])

    def ensure_key_index(self, contract: Contract) -> bool:
        """Redshift has no indexes: the raw tables' sort keys serve key lookups."""
        return True

    def refresh_statistics(self, contract: Contract, rows_loaded: int) -> None:
        """``analyze`` the raw table after a run that loaded rows into it: Redshift itself skips a
        table changed by less than analyze_threshold_percent (10 %), so small loads cost nothing."""
        run(self._cursor(), [stmt(f"ANALYZE {qualified(RAW_SCHEMA, contract.raw_table)}")])

    def ledger_versions(self, contract: Contract) -> dict[tuple[str, str], tuple[str, str | None]]:
        return read_ledger_versions(self.conn, contract)

    def _already_done(self, contract: Contract, obj: LandingObject, retry_refused: bool) -> bool:
        cursor = self._cursor()
        run(cursor, [stmt(
            f'SELECT "status", "contract_fingerprint" FROM {ledger_table("load_ledger")} WHERE "contract" = %s '
            'AND "file_key" = %s AND "file_version" = %s AND "superseded_at" IS NULL', contract.name, obj.key, obj.version,
        )])
        row = cursor.fetchone()
        return row is not None and not is_pending(tuple(row), contract, retry_refused)

    def prepare(self, contract: Contract, obj: LandingObject) -> FilePlan:
        """Probe, normalise when needed, plan, and upload the plan's manifests."""
        shape = probe_shape(contract, self.landing, obj)
        reasons = route(contract, shape).reasons
        normalized = normalize(contract, self.landing, obj) if reasons else None
        file_plan = plan_file(
            contract, obj, landing_uri=self.landing_uri, iam_role=self.iam_role, batch_id=self.batch_id,
            shape=shape, normalized=normalized,
        )
        for key, body in file_plan.artifacts.items():
            with self.landing.writer(key) as out:
                out.write(body)
        return file_plan

    def refuse(self, contract: Contract, obj: LandingObject, reason: str) -> FileResult:
        """Record ``obj`` refused with ``reason``, unread: the plan's refuse phase, nothing copied."""
        file_plan = plan_file(
            contract, obj, landing_uri=self.landing_uri, iam_role=self.iam_role, batch_id=self.batch_id,
            normalized=NormalizedFile(obj, refused=printable(reason)),
        )
        return execute_plan(self._cursor(), file_plan, retry_refused=True)

    def _verify(self, obj: LandingObject) -> str | None:
        client = getattr(self.landing, "client", None)
        if client is None:
            return None
        prefix = getattr(self.landing, "prefix", "")
        head = client.head_object(Bucket=self.landing.bucket, Key=f"{prefix}/{obj.key}" if prefix else obj.key)
        etag = head["ETag"].strip('"')
        if etag != obj.version:
            return f"{self.landing.describe(obj.key)} changed while it was being loaded: run the ingest again"
        return None

    def load(
        self,
        contract: Contract,
        obj: LandingObject,
        *,
        retry_refused: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> FileResult:
        """Load one file version (``on_progress`` is not called: the cluster reads the object)."""
        self.ensure_table(contract)
        if self._already_done(contract, obj, retry_refused):
            return FileResult(contract.name, obj.key, obj.version, "skipped")
        file_plan = self.prepare(contract, obj)
        # a normalised copy was read with If-Match, so it is that version; a direct COPY is re-checked
        verify = (lambda: self._verify(obj)) if file_plan.normalized is None and file_plan.refused is None else None
        return execute_plan(self._cursor(), file_plan, retry_refused=retry_refused, verify=verify)
