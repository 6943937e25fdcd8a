"""The load plan of one file version: statement groups for the phases ``execute_plan`` runs
(open, reset, copy, decide, then commit_phase or refuse_phase)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ingestion.contract import Contract
from ingestion.landing import LandingObject
from ingestion.parsing import is_gzip
from ingestion.writers.base import META_COLUMNS, RAW_SCHEMA, CopyOutcome, threshold_refusal
from ingestion.writers.redshift.copy_options import copy_options
from ingestion.writers.redshift.ddl import column_ddl
from ingestion.writers.redshift.manifest import MANIFEST_PREFIX, digest, manifest_json, new_batch_id
from ingestion.writers.redshift.normalize import NormalizedFile
from ingestion.writers.redshift.probe import FileShape, route
from ingestion.writers.redshift.sql import (
    VARCHAR_MAX,
    RedshiftPlanError,
    Statement,
    ledger_table,
    qualified,
    quote_ident,
    sql_literal,
    validate_iam_role,
    validate_s3_uri,
)
from ingestion.writers.redshift.sql import cols as _cols
from ingestion.writers.redshift.sql import stmt as _stmt
from ingestion.writers.text import fit

_BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class NormalizationRequired(RedshiftPlanError):
    """The file must go through :func:`normalize` first; ``reasons`` names the features."""

    def __init__(self, contract: Contract, key: str, reasons: Sequence[str]):
        self.reasons = tuple(reasons)
        super().__init__(
            f"contract {contract.name}: Redshift COPY cannot load {key} as it is: {'; '.join(reasons)}. "
            "Pre-normalise it with ingestion.writers.redshift.normalize() and pass normalized=…"
        )



@dataclass(frozen=True)
class Timing:
    started_at: datetime
    seconds: float


@dataclass
class FilePlan:
    """Everything one file version's load runs on Redshift; see the module docstring for the protocol."""

    contract: Contract
    obj: LandingObject
    data_uri: str  # what COPY reads (the landing object, or its normalised copy)
    manifest_key: str | None
    manifest_uri: str | None
    artifacts: dict[str, bytes]  # landing key → bytes to upload before executing
    copy_columns: list[str]
    normalized: NormalizedFile | None
    refused: str | None  # refuse without COPY (normalisation or header refused the file)
    open: list[Statement]
    reset: list[Statement]
    copy: list[Statement]
    decide: list[Statement]
    notes: list[str] = field(default_factory=list)
    _table: str = ""

    # ------------------------------------------------------------------ identity
    @property
    def key_params(self) -> tuple[str, str, str]:
        return (self.contract.name, self.obj.key, self.obj.version)

    @property
    def reopen(self) -> list[Statement]:
        """After a failed COPY was rolled back: a new transaction, locked, reset (before refuse_phase)."""
        return self.open[:2] + self.reset

    # ------------------------------------------------------------------ verdict
    def refusal(self, outcome: CopyOutcome) -> str | None:
        """Why this outcome refuses the file (threshold, reconciliation), or None to commit."""
        if self.normalized is not None:
            copied = outcome.rows_loaded + outcome.copy_rejected
            if copied != self.normalized.rows_written:
                return (
                    f"internal reconciliation failed: wrote {self.normalized.rows_written} rows, COPY loaded "
                    f"{outcome.rows_loaded} and rejected {outcome.copy_rejected}; nothing was loaded, please "
                    "report this file"
                )
        return threshold_refusal(self.contract, outcome)

    # ------------------------------------------------------------------ final phases
    def commit_phase(self, outcome: CopyOutcome, timing: Timing | None = None) -> list[Statement]:
        contract, (name, key, version) = self.contract, self.key_params
        timing = timing or Timing(datetime.now(UTC), 0.0)
        stage = quote_ident(stage_table(self._table))
        cols = [c.name for c in contract.columns]
        row_number = (
            '"_row_number"' if self.normalized is not None else 'ROW_NUMBER() OVER (ORDER BY "_row_number")'
        )
        target = contract.changes_table if contract.load.mode == "merge" else contract.raw_table
        insert = _stmt(
            f"INSERT INTO {qualified(RAW_SCHEMA, target)} ({_cols(cols + list(META_COLUMNS))}) "
            f"SELECT {_cols(cols)}, %s, %s, {row_number}, GETDATE() FROM {stage}",
            key, version,
        )
        delete = _stmt(f'DELETE FROM {qualified(RAW_SCHEMA, target)} WHERE "_file_key" = %s', key)
        if contract.load.mode == "merge":
            statements = _merge_statements(contract, self._table, key, delete, insert)
        elif contract.load.mode == "replace_file":
            statements = [delete, insert]
        else:  # append: a changed version never gets here (refused after the open phase)
            statements = [insert]
        statements.append(
            _stmt(
                f'UPDATE {ledger_table("load_ledger")} SET "superseded_at" = GETDATE() WHERE "contract" = %s '
                "AND \"file_key\" = %s AND \"file_version\" <> %s AND \"status\" = 'loaded' "
                'AND "superseded_at" IS NULL',
                name, key, version,
            )
        )
        statements.append(self._ledger_insert("loaded", outcome.rows_read, outcome.rows_loaded,
                                              outcome.rows_rejected, None, timing))
        statements.extend(self._rejects_insert())
        statements.append(_stmt("COMMIT"))
        return statements

    def refuse_phase(
        self, outcome: CopyOutcome | None, error: str, timing: Timing | None = None, *, with_rejects: bool = True
    ) -> list[Statement]:
        """Ledger row 'refused' (+ the rejected rows when the copy phase ran); raw tables untouched."""
        timing = timing or Timing(datetime.now(UTC), 0.0)
        rows_read = outcome.rows_read if outcome else 0
        rejected = outcome.rows_rejected if outcome else 0
        statements = [self._ledger_insert("refused", rows_read, 0, rejected, error, timing)]
        if with_rejects and outcome is not None:
            statements.extend(self._rejects_insert())
        statements.append(_stmt("COMMIT"))
        return statements

    def _ledger_insert(self, status, rows_read, rows_loaded, rows_rejected, error, timing) -> Statement:
        name, key, version = self.key_params
        return _stmt(
            f"INSERT INTO {ledger_table('load_ledger')} (\"contract\", \"file_key\", \"file_version\", \"file_size\", "
            '"status", "rows_read", "rows_loaded", "rows_rejected", "error", "contract_fingerprint", '
            '"started_at", "finished_at", "seconds") '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, GETDATE(), %s)",
            name, key, version, self.obj.size, status, rows_read, rows_loaded, rows_rejected,
            fit(error, 65535), self.contract.fingerprint, timing.started_at, round(timing.seconds, 3),
        )

    def _rejects_insert(self) -> list[Statement]:
        name, key, version = self.key_params
        errors = quote_ident(errors_table(self._table))
        return [
            _stmt(
                f"INSERT INTO {ledger_table('rejected_rows')} (\"load_id\", \"contract\", \"file_key\", "
                '"file_version", "line_number", "column_name", "reason", "value", "raw_text", "rejected_at") '
                'SELECT l."load_id", %s, %s, %s, e."line_number", e."column_name", e."reason", e."value", '
                f'e."raw_text", GETDATE() FROM {errors} AS e CROSS JOIN (SELECT MAX("load_id") AS "load_id" '
                f'FROM {ledger_table("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
                'AND "file_version" = %s AND "superseded_at" IS NULL) AS l',
                name, key, version, name, key, version,
            )
        ]

    # ------------------------------------------------------------------ inspection
    def statements(self) -> list[Statement]:
        """Every statement the plan can run (both final phases, sample values): for review and tests."""
        sample = CopyOutcome(0, 0)
        out = self.open + self.reset
        if self.refused is None:
            out += self.copy + self.decide + self.commit_phase(sample)
        return out + self.refuse_phase(sample, "sample refusal", with_rejects=self.refused is None)



def stage_table(table: str) -> str:
    return f"stage_{table}"


def errors_table(table: str) -> str:
    return f"errors_{table}"


def _merge_statements(contract: Contract, table: str, key: str, delete: Statement, insert: Statement):
    """Rows go to ``__changes``; the touched keys of the live table are recomputed from it: the latest
    change per key (landing-key order, then row) wins, and a delete removes the key."""
    keys = contract.key
    changes, live = qualified(RAW_SCHEMA, contract.changes_table), qualified(RAW_SCHEMA, contract.raw_table)
    touched = quote_ident(f"touched_{table}")
    cols = [c.name for c in contract.columns] + list(META_COLUMNS)
    change_col = quote_ident(contract.load.change_type.column)
    deletes = contract.load.change_type.delete
    join = " AND ".join(f"x.{quote_ident(k)} = t.{quote_ident(k)}" for k in keys)
    live_join = " AND ".join(f"{live}.{quote_ident(k)} = {touched}.{quote_ident(k)}" for k in keys)
    placeholders = ", ".join(["%s"] * len(deletes))
    excluded = f" AND ({change_col} IS NULL OR {change_col} NOT IN ({placeholders}))" if deletes else ""
    return [
        _stmt(f"DROP TABLE IF EXISTS {touched}"),
        _stmt(f'CREATE TEMP TABLE {touched} AS SELECT DISTINCT {_cols(keys)} FROM {changes} WHERE "_file_key" = %s',
              key),
        delete,
        insert,
        _stmt(f"INSERT INTO {touched} ({_cols(keys)}) SELECT DISTINCT {_cols(keys)} FROM {quote_ident(stage_table(table))}"),
        _stmt(f"DELETE FROM {live} USING {touched} WHERE {live_join}"),
        _stmt(
            f"INSERT INTO {live} ({_cols(cols)}) SELECT {_cols(cols)} FROM ("
            f"SELECT x.*, ROW_NUMBER() OVER (PARTITION BY {_cols(keys, 'x.')} "
            'ORDER BY x."_file_key" DESC, x."_row_number" DESC) AS "_rank" '
            f"FROM {changes} AS x INNER JOIN (SELECT DISTINCT {_cols(keys)} FROM {touched}) AS t ON {join}"
            f') AS ranked WHERE "_rank" = 1{excluded}',
            *deletes,
        ),
    ]


def plan_file(
    contract: Contract,
    obj: LandingObject,
    *,
    landing_uri: str,
    iam_role: str,
    batch_id: str | None = None,
    shape: FileShape | None = None,
    normalized: NormalizedFile | None = None,
) -> FilePlan:
    """The load plan of one file version in ``landing_uri`` (``s3://bucket/prefix``).

    ``shape`` (from :func:`probe_shape`) is needed for a direct COPY of a CSV with a header: COPY maps
    fields by position, so the plan lists the columns in the file's order. Files COPY cannot read
    exactly need ``normalized`` (from :func:`normalize`); without it :class:`NormalizationRequired`
    names the contract and the features.
    """
    root = validate_s3_uri(landing_uri)
    role = validate_iam_role(iam_role)
    batch_id = batch_id or new_batch_id()
    if not _BATCH_ID.match(batch_id):
        raise RedshiftPlanError(f"invalid batch id {batch_id!r}: letters, digits, '_', '.', '-' (at most 64)")
    if normalized is not None and normalized.source != obj:
        raise RedshiftPlanError(f"normalized file is for {normalized.source}, not {obj}")
    table = contract.raw_table
    lock_table = qualified(RAW_SCHEMA, table)
    name, key, version = contract.name, obj.key, obj.version
    open_ = [
        _stmt("BEGIN"),
        _stmt(f"LOCK {lock_table}"),
        _stmt(
            f'SELECT "load_id", "file_version", "status", "contract_fingerprint" FROM {ledger_table("load_ledger")} '
            'WHERE "contract" = %s AND "file_key" = %s AND "superseded_at" IS NULL',
            name, key,
        ),
    ]
    same_refused = (
        f'SELECT "load_id" FROM {ledger_table("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
        "AND \"file_version\" = %s AND \"status\" = 'refused'"
    )
    reset = [
        _stmt(f'DELETE FROM {ledger_table("rejected_rows")} WHERE "load_id" IN ({same_refused})', name, key, version),
        _stmt(
            f'DELETE FROM {ledger_table("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
            "AND \"file_version\" = %s AND \"status\" = 'refused'",
            name, key, version,
        ),
    ]
    routed = route(contract, shape)
    notes = []
    if routed.stats.missing_columns:
        notes.append(f"absent nullable columns loaded as NULL: {', '.join(routed.stats.missing_columns)}")
    refused = routed.refused or (normalized.refused if normalized is not None else None)
    plan = FilePlan(
        contract, obj, "", None, None, {}, [], normalized, refused, open_, reset, [], [], notes, table
    )
    if refused is not None:
        return plan
    if routed.reasons and normalized is None:
        raise NormalizationRequired(contract, key, routed.reasons)

    file_digest = digest(key, version)
    manifest_key = f"{MANIFEST_PREFIX}{name}/{batch_id}/{file_digest}.manifest"
    plan.manifest_key = manifest_key
    plan.manifest_uri = validate_s3_uri(f"{root}/{manifest_key}")
    stage, errors = quote_ident(stage_table(table)), quote_ident(errors_table(table))
    text = f"VARCHAR({VARCHAR_MAX})"
    copy = [
        _stmt(f"DROP TABLE IF EXISTS {stage}"),
        _stmt(f"DROP TABLE IF EXISTS {errors}"),
        _stmt(
            f'CREATE TEMP TABLE {errors} ("line_number" BIGINT, "column_name" VARCHAR(128), "reason" {text}, '
            f"\"value\" {text}, \"raw_text\" {text}, \"origin\" VARCHAR(8) DEFAULT 'parse')"
        ),
    ]
    col_ddl = ", ".join(column_ddl(c) for c in contract.columns)
    if normalized is not None:
        plan.notes.extend(normalized.notes)
        plan.data_uri = f"{root}/{normalized.key}"
        plan.copy_columns = ["_row_number"] + [c.name for c in contract.columns]
        plan.artifacts[manifest_key] = manifest_json([(plan.data_uri, normalized.size)])
        copy.append(_stmt(f'CREATE TEMP TABLE {stage} ("_row_number" BIGINT NOT NULL, {col_ddl})'))
        if normalized.rejects:
            rejects_manifest = f"{MANIFEST_PREFIX}{name}/{batch_id}/{file_digest}.rejects.manifest"
            plan.artifacts[rejects_manifest] = manifest_json(
                [(f"{root}/{normalized.rejects_key}", normalized.rejects_size)]
            )
            copy.append(
                _stmt(
                    f'COPY {errors} ("line_number", "column_name", "reason", "value", "raw_text") FROM '
                    f"{sql_literal(validate_s3_uri(f'{root}/{rejects_manifest}'))} IAM_ROLE {sql_literal(role)} "
                    "MANIFEST FORMAT AS CSV QUOTE AS '\"' DELIMITER ',' IGNOREHEADER 1 GZIP ENCODING UTF8 "
                    "EMPTYASNULL MAXERROR 0 COMPUPDATE OFF STATUPDATE OFF"
                )
            )
        options = copy_options(contract, gzip_file=True, ignore_header=1, normalized=True)
        # the normalised line starts with the source line number: map COPY's rejects back to it
        line = (
            "CASE WHEN SPLIT_PART(TRIM(\"raw_line\"), ',', 1) ~ '^[0-9]+$' "
            "THEN CAST(SPLIT_PART(TRIM(\"raw_line\"), ',', 1) AS BIGINT) ELSE \"line_number\" END"
        )
    else:
        plan.data_uri = f"{root}/{key}"
        plan.copy_columns = routed.columns
        plan.artifacts[manifest_key] = manifest_json([(plan.data_uri, obj.size)])
        copy.append(_stmt(f'CREATE TEMP TABLE {stage} ({col_ddl}, "_row_number" BIGINT IDENTITY(1, 1))'))
        shape = shape or FileShape.expected(contract)
        options = copy_options(
            contract, gzip_file=is_gzip(contract, key), ignore_header=shape.header_line, normalized=False
        )
        line = '"line_number"'
    copy.append(
        _stmt(
            f"COPY {stage} ({_cols(plan.copy_columns)}) FROM {sql_literal(plan.manifest_uri)} "
            f"IAM_ROLE {sql_literal(role)} MANIFEST " + " ".join(options)
        )
    )
    copy.append(
        _stmt(
            f'INSERT INTO {errors} ("line_number", "column_name", "reason", "value", "raw_text", "origin") '
            f'SELECT {line}, TRIM("colname"), TRIM("err_reason"), TRIM("raw_field_value"), TRIM("raw_line"), '
            "'copy' FROM stl_load_errors WHERE \"query\" = pg_last_copy_id()"
        )
    )
    plan.copy = copy
    plan.decide = [
        _stmt("SELECT pg_last_copy_count()"),
        _stmt(f"SELECT COUNT(*), SUM(CASE WHEN \"origin\" = 'copy' THEN 1 ELSE 0 END) FROM {errors}"),
        _stmt(f'SELECT "line_number", "column_name", "reason" FROM {errors} ORDER BY "line_number" LIMIT 1'),
    ]
    return plan


@dataclass
class LoadPlan:
    contract: Contract
    batch_id: str
    files: list[FilePlan]

    @property
    def artifacts(self) -> dict[str, bytes]:
        return {k: v for f in self.files for k, v in f.artifacts.items()}


def plan(
    contract: Contract,
    files: Sequence[LandingObject],
    *,
    landing_uri: str,
    iam_role: str,
    batch_id: str | None = None,
    shapes: Mapping[str, FileShape] | None = None,
    normalized: Mapping[str, NormalizedFile] | None = None,
) -> LoadPlan:
    """Plans for a batch of file versions of one contract, in landing-key order (the merge order)."""
    batch_id = batch_id or new_batch_id()
    shapes, normalized = shapes or {}, normalized or {}
    plans = [
        plan_file(
            contract, obj, landing_uri=landing_uri, iam_role=iam_role, batch_id=batch_id,
            shape=shapes.get(obj.key), normalized=normalized.get(obj.key),
        )
        for obj in sorted(files)
    ]
    return LoadPlan(contract, batch_id, plans)
