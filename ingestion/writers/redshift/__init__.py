"""Amazon Redshift writer: the SQL a production load runs, generated and unit-tested offline.

Modules, one job each: ``sql`` (statements, quoting, validated literals), ``ddl`` (ledger and raw
tables), ``copy_options`` (contract → COPY options; what COPY cannot express), ``probe`` (a file's
header and the direct-or-normalise route), ``normalize`` (the gzip CSV COPY reads exactly),
``manifest`` (one-entry manifests), ``plan`` (the phases of one file's load), ``execute`` (running
a plan over a cursor) and ``writer`` (:class:`RedshiftWriter`, the ``Writer``).

Data never passes through Python on the direct path: Redshift reads the landing object itself with
``COPY … FROM 's3://…/<one-entry>.manifest' IAM_ROLE '…' MANIFEST``. The semantics are those of
:mod:`ingestion.writers.postgres`: a file version (landing key + ETag) is the unit of work; its rows, its
rejected rows and its ledger row commit in one transaction; loads of one table are serialised
(``LOCK "raw"."<table>"``: Redshift has no advisory locks); ``replace_file`` / ``append`` / ``merge``
behave the same; a file whose rejects exceed the contract threshold (share, with an allowance of
``REJECT_ALLOWANCE`` rows) is refused and leaves the raw tables untouched.

**One COPY per file version.** Each file gets a one-entry manifest, so ``pg_last_copy_count()`` and
``stl_load_errors WHERE query = pg_last_copy_id()`` belong to exactly that file: the ledger counts,
the rejected rows and the refuse/commit decision are per file, a bad file never blocks the others,
and no ``stl_load_errors.filename`` matching (char(256), truncated for long keys) is needed. The cost
is one COPY round trip per file, which is small next to the transfer for the feeds we have.

**Phase protocol.** SQL on Redshift cannot branch, so :class:`FilePlan` holds statement groups and
:func:`execute_plan` (any DB-API cursor, autocommit connection: the plan carries BEGIN/COMMIT) runs::

    open     BEGIN; LOCK "raw"."t"; SELECT the key's live ledger rows      → skip (ROLLBACK) | go on
    reset    forget an earlier *refused* attempt of the same version (ledger + rejects)
             (append + an earlier loaded version of the key → refuse_phase, no COPY)
    copy     temp stage + errors tables; [COPY Python rejects]; COPY the data; capture
             stl_load_errors WHERE query = pg_last_copy_id() into the errors table
             (a COPY that fails as a whole → ROLLBACK, reopen, refuse_phase with its message)
    decide   SELECT pg_last_copy_count(); SELECT counts of the errors table; SELECT the first error
             → the executor applies the threshold (and, for normalised files, a reconciliation)
    commit_phase(outcome)   DELETE by file / merge recompute; INSERT from the stage; supersede the
                            previous version; ledger row 'loaded'; rejected rows; COMMIT
    refuse_phase(outcome)   ledger row 'refused' + rejected rows; COMMIT (raw tables untouched)

**Pre-normalisation.** What COPY cannot express exactly — unpivot (wide files), thousands
separators, several null tokens, Python date formats without a Redshift DATEFORMAT, non-UTF
encodings, blank-row skipping, undeclared columns, Parquet (no MAXERROR: one bad row fails the whole
file), and ``merge`` (the latest change *within* a file must win, which needs each row's source
line) — goes through :func:`normalize`: the contract's own Python parser streams the object into a
gzip CSV ``_normalized/<key>.<version digest>.csv.gz`` (source line, target columns, ISO dates) next
to a rejects file, and COPY reads that. Memory stays flat (the output spools to a temp file).

**Row numbers.** COPY cannot tell which source line a row came from. Normalised files carry the
source line, so ``_row_number`` is exact there (as on PostgreSQL). On the direct path the stage has
an IDENTITY column and ``_row_number`` is ``row_number() over (order by <identity>)``: a dense
ordinal 1..n in load order, unique within the file (what the staging dedupes order by), but not the
source line. Rejected rows always keep the exact line (``stl_load_errors.line_number``; for
normalised files the source line the normalised row carries).

**COPY options, chosen to match PostgreSQL.** CSV: DELIMITER / QUOTE from the contract, IGNOREHEADER
= the probed header line (notice lines + header), GZIP from compression / extension. JSONL: FORMAT
JSON 'auto ignorecase'. EMPTYASNULL (the raw layer stores '' as NULL), one extra null token as NULL
AS, DATEFORMAT / TIMEFORMAT mapped from the columns' ``date_format`` ('auto' without one), ROUNDEC
(PostgreSQL rounds extra decimals into numeric(p,s); COPY would truncate), MAXERROR 100000 with the
threshold applied afterwards, COMPUPDATE OFF STATUPDATE OFF. Deliberately absent: TRUNCATECOLUMNS
(too-long values are rejected), ACCEPTINVCHARS (an invalid UTF-8 row is rejected, as on PostgreSQL),
BLANKSASNULL (PostgreSQL keeps whitespace-only text). latin-1 and other non-UTF encodings are mapped
by the normaliser (decoded in Python, written as UTF-8).

**Known differences left.** Redshift varchar(n) counts bytes, PostgreSQL characters: a value of n
accented characters can be rejected here and loaded there. On the direct path a DECIMAL value in
exponent notation is rejected by COPY (the normaliser rewrites it). Concurrent loads of *different*
tables read and write the shared ledger; Redshift's serializable isolation can abort one of them
(error 1023): nothing is committed and the next run loads the file.
"""

from __future__ import annotations

from ingestion.writers.base import CopyOutcome
from ingestion.writers.redshift.copy_options import contract_normalization_reasons, redshift_datetime_format
from ingestion.writers.redshift.ddl import (
    create_table_sql,
    evolve_table_sql,
    existing_columns_query,
    meta_ddl,
    raw_tables_ddl,
)
from ingestion.writers.redshift.execute import execute_plan
from ingestion.writers.redshift.manifest import manifest_json, new_batch_id
from ingestion.writers.redshift.normalize import NormalizedFile, normalize, normalized_key
from ingestion.writers.redshift.plan import FilePlan, LoadPlan, NormalizationRequired, Timing, plan, plan_file
from ingestion.writers.redshift.probe import FileShape, probe_shape
from ingestion.writers.redshift.sql import (
    RedshiftPlanError,
    Statement,
    qualified,
    quote_ident,
    sql_literal,
    validate_iam_role,
    validate_s3_uri,
)
from ingestion.writers.redshift.writer import RedshiftWriter

__all__ = [
    "CopyOutcome", "FilePlan", "FileShape", "LoadPlan", "NormalizationRequired", "NormalizedFile", "RedshiftPlanError",
    "RedshiftWriter", "Statement", "Timing", "contract_normalization_reasons", "create_table_sql", "evolve_table_sql",
    "execute_plan", "existing_columns_query", "manifest_json", "meta_ddl", "new_batch_id", "normalize",
    "normalized_key", "plan", "plan_file", "probe_shape", "qualified", "quote_ident", "raw_tables_ddl",
    "redshift_datetime_format", "sql_literal", "validate_iam_role", "validate_s3_uri",
]
