"""Amazon Redshift writer: the SQL a production load runs, generated and unit-tested offline.

Data never passes through Python on the direct path: Redshift reads the landing object itself with
``COPY … FROM 's3://…/<one-entry>.manifest' IAM_ROLE '…' MANIFEST``. The semantics are those of
:mod:`ingestion.postgres`: a file version (landing key + ETag) is the unit of work; its rows, its
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

import codecs
import contextlib
import csv
import gzip
import hashlib
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO, NamedTuple

from core.errors import TerraMinerError
from ingestion.contract import Column, Contract
from ingestion.landing import Landing, LandingObject
from ingestion.parsing import (
    DECOMPRESSION_ERRORS,
    CountingReader,
    FileRefused,
    ParseStats,
    Reject,
    describe_decompression_error,
    is_gzip,
    map_header,
    open_binary,
    open_text,
    parse_csv,
    parse_jsonl,
    parse_parquet,
)
from ingestion.postgres import META_SCHEMA, REJECT_ALLOWANCE, FileResult, PostgresWriter

RAW_SCHEMA = "raw"
MAX_ERRORS = 100_000  # Redshift's ceiling for MAXERROR; more bad rows fail the COPY (→ refused)
VARCHAR_MAX = 65535  # bytes
META_COLUMNS = ("_file_key", "_file_version", "_row_number", "_loaded_at")
NORMALIZED_PREFIX = "_normalized/"
MANIFEST_PREFIX = "_manifests/"
_PROBE_BYTES = 4 << 20

_IAM_ROLE = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<path>(?:/[A-Za-z0-9_.=+@-]+)*)/?$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# strptime directive → Redshift DATEFORMAT/TIMEFORMAT datepart (docs: "DATEFORMAT and TIMEFORMAT strings")
_DATEPARTS = {
    "%Y": "YYYY", "%y": "YY", "%m": "MM", "%d": "DD", "%b": "MON", "%B": "MON",
    "%H": "HH24", "%I": "HH12", "%M": "MI", "%S": "SS", "%p": "AM",
}
_DATE_SEPARATORS = frozenset("-/:. ,")
_ENCODINGS = {"utf-8": "UTF8", "utf-8-sig": "UTF8", "utf-16": "UTF16", "utf-16-le": "UTF16LE", "utf-16-be": "UTF16BE"}
_BOOLEAN = {
    **dict.fromkeys(("t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"), "true"),
    **dict.fromkeys(("f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"), "false"),
}
# Errors of a failed COPY that say nothing about the file: raise (retry later) instead of refusing it.
_INFRASTRUCTURE = (
    "s3serviceexception", "access denied", "accessdenied", "not authorized", "credentials", "assumerole",
    "does not exist", "permission denied", "manifest", "could not connect", "timeout", "connection",
)


class RedshiftPlanError(TerraMinerError):
    """A load plan cannot be generated (invalid input, or a feature COPY cannot express)."""


class NormalizationRequired(RedshiftPlanError):
    """The file must go through :func:`normalize` first; ``reasons`` names the features."""

    def __init__(self, contract: Contract, key: str, reasons: Sequence[str]):
        self.reasons = tuple(reasons)
        super().__init__(
            f"contract {contract.name}: Redshift COPY cannot load {key} as it is: {'; '.join(reasons)}. "
            "Pre-normalise it with ingestion.redshift.normalize() and pass normalized=…"
        )


class Statement(NamedTuple):
    """One statement: values are bound ``%s`` parameters (format paramstyle), never inlined."""

    sql: str
    params: tuple = ()


# ---------------------------------------------------------------------------------------------- quoting
def quote_ident(name: str) -> str:
    """A double-quoted identifier (Redshift: at most 127 bytes, no NUL)."""
    if not name or "\x00" in name or len(name.encode("utf-8")) > 127:
        raise RedshiftPlanError(f"invalid Redshift identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def sql_literal(value: str) -> str:
    """A single-quoted literal for the places Redshift forbids parameters (COPY's path, role, options).

    Strict: control characters and backslashes are refused outright (no escape syntax to get wrong),
    single quotes are doubled.
    """
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value) or "\\" in value:
        raise RedshiftPlanError(f"refusing to render {value!r} as a SQL literal: control character or backslash")
    return "'" + value.replace("'", "''") + "'"


def validate_iam_role(arn: str) -> str:
    if not isinstance(arn, str) or not _IAM_ROLE.match(arn):
        raise RedshiftPlanError(
            f"invalid IAM role {arn!r}: expected arn:aws:iam::<12 digits>:role/<name> (one role, no chaining)"
        )
    return arn


def validate_s3_uri(uri: str) -> str:
    """An ``s3://bucket[/prefix]`` URI safe to render in COPY: lowercase DNS-style bucket, and a path of
    letters, digits and ``_ . = + @ -`` segments. Returned without a trailing slash."""
    if not isinstance(uri, str) or not _S3_URI.match(uri) or ".." in uri:
        raise RedshiftPlanError(
            f"invalid S3 URI {uri!r}: expected s3://<bucket>[/<prefix>] with a DNS-style bucket name and "
            "path segments of letters, digits, '_', '.', '=', '+', '@' and '-'"
        )
    return uri.rstrip("/")


def _stmt(sql: str, *params: Any) -> Statement:
    if sql.count("%s") != len(params) or sql.replace("%s", "").count("%"):
        raise AssertionError(f"placeholders do not match parameters in: {sql}")
    return Statement(sql, tuple(params))


def _cols(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote_ident(n) for n in names)


# ---------------------------------------------------------------------------------------------- DDL
def _ledger(name: str) -> str:
    return qualified(META_SCHEMA, name)


def meta_ddl() -> list[Statement]:
    """``raw`` and ``ingestion_meta`` schemas, the ledger and the rejected rows, for Redshift.

    Same columns as ``postgres.META_DDL``; ``load_id`` is an IDENTITY; text is ``varchar(65535)``; the
    status check and the unique key are kept by the writer (Redshift does not enforce them).
    """
    text = f"VARCHAR({VARCHAR_MAX})"
    return [
        _stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(RAW_SCHEMA)}"),
        _stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(META_SCHEMA)}"),
        _stmt(
            f"CREATE TABLE IF NOT EXISTS {_ledger('load_ledger')} ("
            '"load_id" BIGINT IDENTITY(1, 1), "contract" VARCHAR(128) NOT NULL, '
            '"file_key" VARCHAR(1024) NOT NULL, "file_version" VARCHAR(128) NOT NULL, "file_size" BIGINT, '
            '"status" VARCHAR(16) NOT NULL, "rows_read" BIGINT NOT NULL DEFAULT 0, '
            '"rows_loaded" BIGINT NOT NULL DEFAULT 0, "rows_rejected" BIGINT NOT NULL DEFAULT 0, '
            f'"error" {text}, "contract_fingerprint" VARCHAR(32), "started_at" TIMESTAMPTZ NOT NULL, '
            '"finished_at" TIMESTAMPTZ NOT NULL, "seconds" NUMERIC(12, 3), "superseded_at" TIMESTAMPTZ, '
            'PRIMARY KEY ("load_id"), UNIQUE ("contract", "file_key", "file_version")'
            ') DISTSTYLE AUTO SORTKEY ("contract", "file_key")'
        ),
        _stmt(
            f"CREATE TABLE IF NOT EXISTS {_ledger('rejected_rows')} ("
            '"load_id" BIGINT NOT NULL, "contract" VARCHAR(128) NOT NULL, "file_key" VARCHAR(1024) NOT NULL, '
            '"file_version" VARCHAR(128) NOT NULL, "line_number" BIGINT NOT NULL, "column_name" VARCHAR(128), '
            f'"reason" {text} NOT NULL, "value" {text}, "raw_text" {text}, '
            '"rejected_at" TIMESTAMPTZ NOT NULL DEFAULT GETDATE()'
            ') DISTSTYLE AUTO SORTKEY ("load_id")'
        ),
    ]


def _column_ddl(col: Column, *, not_null: bool = True) -> str:
    return f"{quote_ident(col.name)} {col.redshift_type}" + (" NOT NULL" if not_null and not col.nullable else "")


def create_table_sql(contract: Contract, table: str) -> Statement:
    """A raw table (or the ``__changes`` table of a merge contract): contract columns + load metadata.

    Sort key: the contract key for the merge tables (recomputed by key), ``_loaded_at`` otherwise.
    """
    if table not in (contract.raw_table, contract.changes_table):
        raise RedshiftPlanError(f"{table} is not a table of contract {contract.name}")
    cols = [_column_ddl(c) for c in contract.columns]
    cols += [
        '"_file_key" VARCHAR(1024) NOT NULL',
        '"_file_version" VARCHAR(128) NOT NULL',
        '"_row_number" BIGINT NOT NULL',
        '"_loaded_at" TIMESTAMP NOT NULL',
    ]
    sort = contract.key if contract.load.mode == "merge" else ["_loaded_at"]
    return _stmt(
        f"CREATE TABLE IF NOT EXISTS {qualified(RAW_SCHEMA, table)} ({', '.join(cols)}) "
        f"DISTSTYLE AUTO COMPOUND SORTKEY ({_cols(sort)})"
    )


def raw_tables_ddl(contract: Contract) -> list[Statement]:
    """``raw.<contract>`` (and ``raw.<contract>__changes`` for merge contracts)."""
    tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
    return [_stmt(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(RAW_SCHEMA)}")] + [
        create_table_sql(contract, t) for t in tables
    ]


def existing_columns_query(table: str) -> Statement:
    """Columns of ``raw.<table>`` with their formatted types (leader-node catalog query)."""
    return _stmt(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
        "INNER JOIN pg_class AS c ON c.oid = a.attrelid INNER JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        RAW_SCHEMA, table,
    )


def evolve_table_sql(contract: Contract, table: str, existing: Mapping[str, str]) -> list[Statement]:
    """``ALTER TABLE … ADD COLUMN`` for contract columns the table lacks; a changed type is an error
    (migrate the column or revert the contract), as on PostgreSQL."""
    statements = []
    for col in contract.columns:
        have = existing.get(col.name)
        if have is None:
            statements.append(
                _stmt(f"ALTER TABLE {qualified(RAW_SCHEMA, table)} ADD COLUMN {_column_ddl(col, not_null=False)}")
            )
        elif _normal_type(have) != _normal_type(col.redshift_type):
            raise RedshiftPlanError(
                f"raw.{table}.{col.name} is {have} but the contract says {col.type} ({col.redshift_type} on "
                "Redshift): migrate the column or revert the contract"
            )
    return statements


def _normal_type(name: str) -> str:
    name = name.lower().replace("character varying", "varchar").replace("timestamp without time zone", "timestamp")
    name = name.replace("timestamp with time zone", "timestamptz").replace("character(", "char(")
    name = name.replace("double precision", "float8").replace(" ", "")
    return {"text": "varchar(65535)", "int4": "integer", "int2": "smallint", "int8": "bigint"}.get(name, name)


# ---------------------------------------------------------------------------------------------- formats
def redshift_datetime_format(python_format: str) -> str | None:
    """``%m/%d/%Y`` → ``MM/DD/YYYY``; None when a directive or literal has no Redshift equivalent."""
    out, i = [], 0
    while i < len(python_format):
        ch = python_format[i]
        if ch == "%":
            part = _DATEPARTS.get(python_format[i : i + 2])
            if part is None:
                return None
            out.append(part)
            i += 2
        elif ch in _DATE_SEPARATORS:
            out.append(ch)
            i += 1
        else:
            return None
    return "".join(out)


def _redshift_encoding(contract: Contract) -> str | None:
    return _ENCODINGS.get(codecs.lookup(contract.format.encoding).name)


def _temporal_formats(contract: Contract) -> tuple[dict[str, set[str]], list[str]]:
    """DATEFORMAT / TIMEFORMAT candidates per COPY option, and the reasons a direct COPY is impossible."""
    wanted: dict[str, set[str]] = {"DATEFORMAT": set(), "TIMEFORMAT": set()}
    reasons = []
    for col in contract.columns:
        if not col.is_temporal:
            continue
        option = "DATEFORMAT" if col.type == "date" else "TIMEFORMAT"
        if col.date_format is None:
            wanted[option].add("auto")
            continue
        mapped = redshift_datetime_format(col.date_format)
        if mapped is None or col.type == "timestamptz":
            reasons.append(f"column {col.name}: date_format {col.date_format!r} has no Redshift {option} equivalent")
        else:
            wanted[option].add(mapped)
    for option, formats in wanted.items():
        if len(formats) > 1:
            reasons.append(f"columns need different {option}s ({', '.join(sorted(formats))}); COPY takes one")
    return wanted, reasons


def contract_normalization_reasons(contract: Contract) -> list[str]:
    """Contract features a direct COPY cannot express exactly (empty: COPY-able, file permitting)."""
    fmt = contract.format
    reasons = []
    if fmt.type == "parquet":
        reasons.append(
            "format parquet (COPY maps Parquet columns by position and has no MAXERROR: one bad row would "
            "fail the whole file instead of being rejected)"
        )
    if fmt.unpivot:
        reasons.append("format.unpivot (wide columns to rows)")
    if fmt.thousands_separator and any(c.is_numeric for c in contract.columns):
        reasons.append(f"format.thousands_separator {fmt.thousands_separator!r} in numeric columns")
    extra_nulls = [t for t in fmt.null_tokens if t != ""]
    if len(extra_nulls) > 1 or (extra_nulls and fmt.type != "csv"):
        reasons.append(f"null tokens {extra_nulls} (COPY has one NULL AS, and none for JSON)")
    if fmt.skip_blank_rows:
        reasons.append("format.skip_blank_rows (COPY would load or reject all-empty rows)")
    if _redshift_encoding(contract) is None:
        reasons.append(f"format.encoding {fmt.encoding!r} (COPY reads UTF-8 and UTF-16 only)")
    if fmt.type == "csv":
        for name, char in (("delimiter", fmt.delimiter), ("quote", fmt.quote)):
            if not (32 <= ord(char) < 127 or char == "\t") or char == "\\":
                reasons.append(f"format.{name} {char!r} (COPY takes a printable ASCII character)")
        if not fmt.header:
            positions = [c.position for c in contract.columns]
            if positions != list(range(1, len(positions) + 1)):
                reasons.append("header-less column positions are not 1..n in order (COPY cannot skip fields)")
    if fmt.type == "jsonl":
        renamed = [c.name for c in contract.columns if c.aliases or c.source_name.lower() != c.name]
        if renamed:
            reasons.append(f"jsonl columns {renamed} have sources or aliases other than their names")
    reasons.extend(_temporal_formats(contract)[1])
    if contract.load.mode == "merge":
        reasons.append(
            "load.mode merge (the latest change within a file must win, which needs each row's source line; "
            "COPY cannot report it)"
        )
    return reasons


@dataclass(frozen=True)
class FileShape:
    """What :func:`probe_shape` learned from the first bytes of a file (nothing for Parquet).

    ``header``: the CSV header fields; ``header_line``: physical lines up to and including the header
    (COPY's IGNOREHEADER); ``bom``: the data starts with a byte-order mark; ``problem``: why the file
    could not be probed (the normaliser then gives the exact refusal).
    """

    header: tuple[str, ...] | None = None
    header_line: int = 0
    bom: bool = False
    multiline_header: bool = False
    problem: str | None = None

    @classmethod
    def expected(cls, contract: Contract) -> FileShape:
        """A file laid out exactly as the contract declares (header = source names in contract order)."""
        fmt = contract.format
        if fmt.type == "csv" and fmt.header:
            return cls(tuple(c.source_name for c in contract.columns), fmt.skip_lines + 1)
        return cls(None, fmt.skip_lines if fmt.type == "csv" else 0)


@dataclass(frozen=True)
class _Route:
    reasons: list[str]
    columns: list[str]  # COPY column list in file order (direct route)
    stats: ParseStats
    refused: str | None = None


def _route(contract: Contract, shape: FileShape | None) -> _Route:
    reasons = contract_normalization_reasons(contract)
    stats = ParseStats()
    fmt = contract.format
    columns = [c.name for c in contract.columns]
    if reasons:
        return _Route(reasons, columns, stats)
    if shape is None and fmt.type == "csv" and fmt.header:
        return _Route(["the file's header was not probed (COPY maps CSV fields by position)"], columns, stats)
    shape = shape or FileShape.expected(contract)
    if shape.problem:
        return _Route([f"the file could not be probed: {shape.problem}"], columns, stats)
    if shape.multiline_header:
        return _Route(["the header spans lines (quoted newline)"], columns, stats)
    if shape.bom and shape.header_line == 0:
        return _Route(["the data starts with a byte-order mark COPY would keep"], columns, stats)
    if fmt.type == "csv" and fmt.header:
        try:
            indexes = map_header(contract, list(shape.header or ()), stats)
        except FileRefused as err:
            return _Route([], columns, stats, refused=str(err))
        if stats.extra_columns:
            return _Route(
                [f"undeclared columns {stats.extra_columns} (COPY cannot skip fields)"], columns, stats
            )
        by_index = {i: c.name for c, i in zip(contract.columns, indexes, strict=True) if i is not None}
        columns = [by_index[i] for i in range(len(shape.header or ()))]
    return _Route([], columns, stats)


def _copy_options(contract: Contract, *, gzip_file: bool, ignore_header: int, normalized: bool) -> list[str]:
    fmt = contract.format
    opts = []
    if normalized or fmt.type == "csv":
        delimiter, quote = (",", '"') if normalized else (fmt.delimiter, fmt.quote)
        opts.append(f"FORMAT AS CSV QUOTE AS {sql_literal(quote)}")
        opts.append("DELIMITER " + ("'\\t'" if delimiter == "\t" else sql_literal(delimiter)))
        if ignore_header:
            opts.append(f"IGNOREHEADER {int(ignore_header)}")
    else:
        opts.append("FORMAT AS JSON 'auto ignorecase'")
    if gzip_file:
        opts.append("GZIP")
    opts.append(f"ENCODING {'UTF8' if normalized else _redshift_encoding(contract)}")
    opts.append("EMPTYASNULL")
    if any(c.type.startswith("numeric") for c in contract.columns):
        opts.append("ROUNDEC")  # PostgreSQL rounds extra decimals into numeric(p,s); COPY would truncate
    extra_nulls = [t for t in fmt.null_tokens if t != ""]
    if extra_nulls and not normalized:
        opts.append(f"NULL AS {sql_literal(extra_nulls[0])}")
    if normalized:
        # formatted dates were rewritten as ISO dates; timestamps (some with a zone) are read with 'auto'
        dates = [c for c in contract.columns if c.type == "date"]
        wanted = {}
        if dates:
            wanted["DATEFORMAT"] = "YYYY-MM-DD" if all(c.date_format for c in dates) else "auto"
        if any(c.type in ("timestamp", "timestamptz") for c in contract.columns):
            wanted["TIMEFORMAT"] = "auto"
    else:
        wanted = {k: v.pop() for k, v in _temporal_formats(contract)[0].items() if v}
    for option in ("DATEFORMAT", "TIMEFORMAT"):
        if option in wanted:
            opts.append(f"{option} {sql_literal(wanted[option])}")
    opts.append(f"MAXERROR {MAX_ERRORS}")
    opts.append("COMPUPDATE OFF STATUPDATE OFF")
    return opts


# ---------------------------------------------------------------------------------------------- manifests
def manifest_json(entries: Sequence[tuple[str, int]]) -> bytes:
    """A COPY manifest listing exactly these objects (``(s3 url, content length)``), all mandatory."""
    body = {
        "entries": [{"url": url, "mandatory": True, "meta": {"content_length": int(size)}} for url, size in entries]
    }
    return (json.dumps(body, indent=2) + "\n").encode()


def _digest(*parts: str, n: int = 20) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:n]


def normalized_key(obj: LandingObject) -> str:
    """Landing key of the normalised copy of one file version."""
    return f"{NORMALIZED_PREFIX}{obj.key}.{_digest(obj.version, n=12)}.csv.gz"


def new_batch_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


# ---------------------------------------------------------------------------------------------- plans
@dataclass(frozen=True)
class NormalizedFile:
    """The result of :func:`normalize` for one file version."""

    source: LandingObject
    key: str | None = None  # landing key of the normalised gzip CSV
    size: int = 0
    rows_read: int = 0  # rows the parser read (written + rejected in Python)
    rows_written: int = 0
    rejects: int = 0
    rejects_key: str | None = None
    rejects_size: int = 0
    notes: tuple[str, ...] = ()
    refused: str | None = None


@dataclass(frozen=True)
class CopyOutcome:
    """What the decide queries returned."""

    rows_loaded: int
    rows_rejected: int  # Python (normaliser) + COPY rejects
    copy_rejected: int = 0
    first: tuple | None = None  # (line, column, reason) of the first reject

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_rejected


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
        stage = quote_ident(_stage(self._table))
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
                f'UPDATE {_ledger("load_ledger")} SET "superseded_at" = GETDATE() WHERE "contract" = %s '
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
            f"INSERT INTO {_ledger('load_ledger')} (\"contract\", \"file_key\", \"file_version\", \"file_size\", "
            '"status", "rows_read", "rows_loaded", "rows_rejected", "error", "contract_fingerprint", '
            '"started_at", "finished_at", "seconds") '
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, GETDATE(), %s)",
            name, key, version, self.obj.size, status, rows_read, rows_loaded, rows_rejected,
            _fit(error, 65535), self.contract.fingerprint, timing.started_at, round(timing.seconds, 3),
        )

    def _rejects_insert(self) -> list[Statement]:
        name, key, version = self.key_params
        errors = quote_ident(_errors(self._table))
        return [
            _stmt(
                f"INSERT INTO {_ledger('rejected_rows')} (\"load_id\", \"contract\", \"file_key\", "
                '"file_version", "line_number", "column_name", "reason", "value", "raw_text", "rejected_at") '
                'SELECT l."load_id", %s, %s, %s, e."line_number", e."column_name", e."reason", e."value", '
                f'e."raw_text", GETDATE() FROM {errors} AS e CROSS JOIN (SELECT MAX("load_id") AS "load_id" '
                f'FROM {_ledger("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
                'AND "file_version" = %s) AS l',
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


def threshold_refusal(contract: Contract, outcome: CopyOutcome) -> str | None:
    """PostgreSQL's rule: refused when rejects exceed both the contract's share and REJECT_ALLOWANCE."""
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


def _stage(table: str) -> str:
    return f"stage_{table}"


def _errors(table: str) -> str:
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
        _stmt(f"INSERT INTO {touched} ({_cols(keys)}) SELECT DISTINCT {_cols(keys)} FROM {quote_ident(_stage(table))}"),
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
            f'SELECT "load_id", "file_version", "status", "contract_fingerprint" FROM {_ledger("load_ledger")} '
            'WHERE "contract" = %s AND "file_key" = %s AND "superseded_at" IS NULL',
            name, key,
        ),
    ]
    same_refused = (
        f'SELECT "load_id" FROM {_ledger("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
        "AND \"file_version\" = %s AND \"status\" = 'refused'"
    )
    reset = [
        _stmt(f'DELETE FROM {_ledger("rejected_rows")} WHERE "load_id" IN ({same_refused})', name, key, version),
        _stmt(
            f'DELETE FROM {_ledger("load_ledger")} WHERE "contract" = %s AND "file_key" = %s '
            "AND \"file_version\" = %s AND \"status\" = 'refused'",
            name, key, version,
        ),
    ]
    route = _route(contract, shape)
    notes = []
    if route.stats.missing_columns:
        notes.append(f"absent nullable columns loaded as NULL: {', '.join(route.stats.missing_columns)}")
    refused = route.refused or (normalized.refused if normalized is not None else None)
    plan = FilePlan(
        contract, obj, "", None, None, {}, [], normalized, refused, open_, reset, [], [], notes, table
    )
    if refused is not None:
        return plan
    if route.reasons and normalized is None:
        raise NormalizationRequired(contract, key, route.reasons)

    digest = _digest(key, version)
    manifest_key = f"{MANIFEST_PREFIX}{name}/{batch_id}/{digest}.manifest"
    plan.manifest_key = manifest_key
    plan.manifest_uri = validate_s3_uri(f"{root}/{manifest_key}")
    stage, errors = quote_ident(_stage(table)), quote_ident(_errors(table))
    text = f"VARCHAR({VARCHAR_MAX})"
    copy = [
        _stmt(f"DROP TABLE IF EXISTS {stage}"),
        _stmt(f"DROP TABLE IF EXISTS {errors}"),
        _stmt(
            f'CREATE TEMP TABLE {errors} ("line_number" BIGINT, "column_name" VARCHAR(128), "reason" {text}, '
            f"\"value\" {text}, \"raw_text\" {text}, \"origin\" VARCHAR(8) DEFAULT 'parse')"
        ),
    ]
    col_ddl = ", ".join(_column_ddl(c) for c in contract.columns)
    if normalized is not None:
        plan.notes.extend(normalized.notes)
        plan.data_uri = f"{root}/{normalized.key}"
        plan.copy_columns = ["_row_number"] + [c.name for c in contract.columns]
        plan.artifacts[manifest_key] = manifest_json([(plan.data_uri, normalized.size)])
        copy.append(_stmt(f'CREATE TEMP TABLE {stage} ("_row_number" BIGINT NOT NULL, {col_ddl})'))
        if normalized.rejects:
            rejects_manifest = f"{MANIFEST_PREFIX}{name}/{batch_id}/{digest}.rejects.manifest"
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
        options = _copy_options(contract, gzip_file=True, ignore_header=1, normalized=True)
        # the normalised line starts with the source line number: map COPY's rejects back to it
        line = (
            "CASE WHEN SPLIT_PART(TRIM(\"raw_line\"), ',', 1) ~ '^[0-9]+$' "
            "THEN CAST(SPLIT_PART(TRIM(\"raw_line\"), ',', 1) AS BIGINT) ELSE \"line_number\" END"
        )
    else:
        plan.data_uri = f"{root}/{key}"
        plan.copy_columns = route.columns
        plan.artifacts[manifest_key] = manifest_json([(plan.data_uri, obj.size)])
        copy.append(_stmt(f'CREATE TEMP TABLE {stage} ({col_ddl}, "_row_number" BIGINT IDENTITY(1, 1))'))
        shape = shape or FileShape.expected(contract)
        options = _copy_options(
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


# ---------------------------------------------------------------------------------------------- executor
def _run(cursor, statements: Sequence[Statement]) -> None:
    for sql, params in statements:
        if params:
            cursor.execute(sql, params)
        else:
            cursor.execute(sql)


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:1000]


def _is_infrastructure(message: str) -> bool:
    lowered = message.lower()
    return any(token in lowered for token in _INFRASTRUCTURE)


def execute_plan(
    cursor,
    file_plan: FilePlan,
    *,
    retry_refused: bool = False,
    verify: Callable[[], str | None] | None = None,
) -> FileResult:
    """Run one file's plan over a DB-API cursor (redshift_connector / psycopg2 style, autocommit).

    ``verify`` runs after the decide phase, before anything is committed; it returns a message when the
    load must not commit (e.g. the object's ETag changed since it was listed) and the transaction is
    rolled back and a :class:`TerraMinerError` raised (nothing recorded: run the ingest again).
    """
    clock = time.perf_counter()
    started_at = datetime.now(UTC)
    fp, contract, obj = file_plan, file_plan.contract, file_plan.obj
    result = FileResult(contract.name, obj.key, obj.version, "skipped", notes=list(fp.notes))

    def timing() -> Timing:
        return Timing(started_at, time.perf_counter() - clock)

    def finish(status: str, outcome: CopyOutcome | None, error: str | None = None) -> FileResult:
        result.status, result.error = status, error
        if outcome is not None:
            result.rows_read = outcome.rows_read
            result.rows_loaded = outcome.rows_loaded if status == "loaded" else 0
            result.rows_rejected = outcome.rows_rejected
        result.seconds = time.perf_counter() - clock
        return result

    def guarded(statements: Sequence[Statement]) -> None:
        try:
            _run(cursor, statements)
        except BaseException:
            with contextlib.suppress(Exception):
                cursor.execute("ROLLBACK")
            raise

    guarded(fp.open)
    rows = cursor.fetchall()
    same = next((r for r in rows if r[1] == obj.version), None)
    if same is not None and not PostgresWriter.is_pending((same[2], same[3]), contract, retry_refused):
        guarded([_stmt("ROLLBACK")])
        return finish("skipped", None)
    previous = next((r for r in rows if r[2] == "loaded" and r[1] != obj.version), None)
    guarded(fp.reset)
    refusal = fp.refused
    if refusal is None and previous is not None and contract.load.mode == "append":
        refusal = (
            f"append-only contract: {obj.key} changed after it was loaded (was version {previous[1]}); "
            "deliver corrections under a new key or use load mode replace_file"
        )
    if refusal is not None:
        guarded(fp.refuse_phase(None, refusal, timing(), with_rejects=False))
        return finish("refused", None, refusal)
    try:
        _run(cursor, fp.copy)
    except Exception as err:  # the COPY failed as a whole: the driver's error class varies
        message = _one_line(err)
        with contextlib.suppress(Exception):
            cursor.execute("ROLLBACK")
        if _is_infrastructure(message):
            raise TerraMinerError(f"COPY of {fp.data_uri} failed (not the file's fault, retry): {message}") from err
        error = f"Redshift COPY refused the file: {message}"
        guarded(fp.reopen + fp.refuse_phase(None, error, timing(), with_rejects=False))
        return finish("refused", None, error)
    guarded(fp.decide[:1])
    loaded = int(cursor.fetchone()[0] or 0)
    guarded(fp.decide[1:2])
    rejected, copy_rejected = (int(v or 0) for v in cursor.fetchone())
    guarded(fp.decide[2:3])
    first = cursor.fetchone() if rejected else None
    outcome = CopyOutcome(loaded, rejected, copy_rejected, tuple(first) if first else None)
    if verify is not None:
        problem = verify()
        if problem:
            guarded([_stmt("ROLLBACK")])
            raise TerraMinerError(problem)
    refusal = fp.refusal(outcome)
    if refusal is not None:
        guarded(fp.refuse_phase(outcome, refusal, timing()))
        return finish("refused", outcome, refusal)
    guarded(fp.commit_phase(outcome, timing()))
    result.replaced = previous is not None
    return finish("loaded", outcome)


# ---------------------------------------------------------------------------------------------- probing
class _Limited(io.RawIOBase):
    def __init__(self, stream: BinaryIO, limit: int):
        self._stream, self._left = stream, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        data = self._stream.read(min(len(buffer), self._left))
        n = len(data)
        buffer[:n] = data
        self._left -= n
        return n


def probe_shape(contract: Contract, landing: Landing, obj: LandingObject) -> FileShape | None:
    """Read the start of a CSV/JSONL object (a few MiB at most): header fields, header line, BOM."""
    fmt = contract.format
    if fmt.type == "parquet":
        return None
    try:
        with contextlib.closing(landing.open(obj)) as raw:
            binary = open_binary(_Limited(raw, _PROBE_BYTES), contract, obj.key)
            bom = _redshift_encoding(contract) == "UTF8" and binary.peek(3)[:3] == codecs.BOM_UTF8
            if fmt.type != "csv" or not fmt.header:
                return FileShape(None, fmt.skip_lines if fmt.type == "csv" else 0, bom)
            text = open_text(binary, contract)
            for _ in range(fmt.skip_lines):
                if not text.readline():
                    return FileShape(problem="file ends before the header")
            reader = csv.reader(text, delimiter=fmt.delimiter, quotechar=fmt.quote, doublequote=True, strict=False)
            before = 0
            for fields in reader:
                if fields and any(h.strip() for h in fields):
                    return FileShape(
                        tuple(fields), fmt.skip_lines + reader.line_num, bom,
                        multiline_header=reader.line_num - before > 1,
                    )
                before = reader.line_num
            return FileShape(problem="no header within the first bytes of the file")
    except (FileRefused, UnicodeError, csv.Error, *DECOMPRESSION_ERRORS) as err:
        return FileShape(problem=_one_line(err) or type(err).__name__)


# ---------------------------------------------------------------------------------------------- normalising
class _CountingWriter(io.RawIOBase):
    def __init__(self, sink: BinaryIO):
        self._sink, self.size = sink, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        n = self._sink.write(data)
        n = len(data) if n is None else n
        self.size += n
        return n


def _storable(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.replace("\x00", "\\x00")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return value


def _fit(value: str | None, limit: int) -> str | None:
    """Storable text of at most ``limit`` UTF-8 bytes (Redshift varchar lengths are bytes)."""
    value = _storable(value)
    if value is None:
        return None
    data = value.encode("utf-8")
    if len(data) <= limit:
        return value
    cut = data[: limit - 40].decode("utf-8", "ignore")
    return cut + f"… [{len(data) - len(cut.encode())} more bytes]"


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _without_date_formats(contract: Contract) -> Contract:
    columns = [c.model_copy(update={"date_format": None}) for c in contract.columns]
    return contract.model_copy(update={"columns": columns})


class _Normalizer:
    """Target row (strings, '' = NULL) → values Redshift COPY parses exactly as PostgreSQL would."""

    def __init__(self, contract: Contract):
        self.names = [c.name for c in contract.columns]
        self.steps: list[tuple[int, str, Callable[[str], str]]] = []
        for pos, col in enumerate(contract.columns, start=1):
            fn = self._step(col)
            if fn is not None:
                self.steps.append((pos, col.name, fn))

    @staticmethod
    def _step(col: Column) -> Callable[[str], str] | None:
        if col.is_temporal and col.date_format:
            pattern = col.date_format
            iso = "%Y-%m-%d" if col.type == "date" else "%Y-%m-%d %H:%M:%S"
            zone = col.type == "timestamptz"

            def temporal(v: str) -> str:
                try:
                    parsed = datetime.strptime(v.strip(), pattern)
                except ValueError:
                    raise ValueError(f"does not match date format {pattern}") from None
                if zone and parsed.tzinfo is not None:
                    return parsed.astimezone(UTC).strftime(iso) + "+00"
                return parsed.strftime(iso)

            return temporal
        if col.type.startswith("numeric") or col.type in ("real", "double precision"):

            def number(v: str) -> str:
                v = v.strip()
                if "e" in v or "E" in v:  # Redshift DECIMAL does not read exponent notation
                    with contextlib.suppress(InvalidOperation, ValueError):
                        return format(Decimal(v), "f")
                return v

            return number
        if col.type == "boolean":
            return lambda v: _BOOLEAN.get(v.strip().lower(), v)
        if col.is_numeric or col.is_temporal:
            return str.strip
        return None

    def shape(self, row: tuple, rejects: list[Reject]) -> list[str] | None:
        line = int(row[0])
        values = list(row)
        for pos, name, fn in self.steps:
            if values[pos]:
                try:
                    values[pos] = fn(values[pos])
                except ValueError as err:
                    rejects.append(Reject(line, name, str(err), values[pos]))
                    return None
        joined = "\x1f".join(values)  # one scan for the common case: nothing to reject
        if "\x00" not in joined and (joined.isascii() or _encodable(joined)):
            return values
        for pos in range(1, len(values)):
            value = values[pos]
            if "\x00" in value:
                rejects.append(Reject(line, self.names[pos - 1], "NUL byte (0x00) in value: Redshift text cannot hold it", value))
                return None
            if not _encodable(value):
                raw = value.encode("utf-8", "surrogateescape")
                bad = next((b for b in raw if b >= 0x80), 0)
                rejects.append(
                    Reject(line, self.names[pos - 1], f"invalid byte 0x{bad:02x} for the file's encoding: if the "
                           "whole file is another encoding, set format.encoding (e.g. latin-1)", value)
                )
                return None
        return values


@contextlib.contextmanager
def _batches(contract: Contract, landing: Landing, obj: LandingObject, stats: ParseStats, capture):
    kind = contract.format.type
    if kind == "parquet":
        with landing.local_path(obj) as path:
            yield parse_parquet(path, contract, stats, capture_lines=capture)
        return
    with contextlib.closing(landing.open(obj)) as raw:
        text = open_text(open_binary(CountingReader(raw), contract, obj.key), contract)
        parser = parse_csv if kind == "csv" else parse_jsonl
        yield parser(text, contract, stats, capture_lines=capture)


@contextlib.contextmanager
def _gzip_csv(landing: Landing, key: str) -> Iterator[tuple[Any, _CountingWriter]]:
    """A CSV writer into a gzip object that appears only if the block exits without error."""
    with landing.writer(key) as sink:
        counter = _CountingWriter(sink)
        gz = gzip.GzipFile(fileobj=counter, mode="wb", compresslevel=6, mtime=0)
        text = io.TextIOWrapper(gz, encoding="utf-8", newline="")
        try:
            yield csv.writer(text, lineterminator="\n"), counter
            text.flush()
        finally:
            text.detach()
            gz.close()


def normalize(contract: Contract, landing: Landing, obj: LandingObject) -> NormalizedFile:
    """Stream one file version through the contract's Python parser into a gzip CSV COPY reads exactly.

    Output (next to the landing files, under ``_normalized/``): a header line, then one line per
    target row: the source line number, then the contract columns (ISO dates, no thousands separators,
    '' for NULL). Rows the parser rejects go to a second gzip CSV (line, column, reason, value, raw
    text) that the plan COPYs into the rejects. A file the contract cannot read at all comes back with
    ``refused`` set (nothing uploaded). Memory stays flat; the output spools through a temp file.
    """
    parse_contract = _without_date_formats(contract)
    shaper = _Normalizer(contract)
    stats = ParseStats()
    rejects: list[Reject] = []
    rows_read = rows_written = 0
    key = normalized_key(obj)
    try:
        with _gzip_csv(landing, key) as (writer, counter):
            writer.writerow(["_row_number", *shaper.names])
            with _batches(parse_contract, landing, obj, stats, None) as batches:
                for batch in batches:
                    rows_read += len(batch.rows) + len(batch.rejects)
                    rejects.extend(batch.rejects)
                    shaped = [v for v in (shaper.shape(row, rejects) for row in batch.rows) if v is not None]
                    writer.writerows(shaped)
                    rows_written += len(shaped)
        size = counter.size
    except FileRefused as err:
        return NormalizedFile(obj, refused=str(err))
    except DECOMPRESSION_ERRORS as err:
        return NormalizedFile(obj, refused=describe_decompression_error(err))
    except UnicodeError as err:
        return NormalizedFile(obj, refused=f"cannot decode as {contract.format.encoding}: {err}; set format.encoding")
    notes = []
    if stats.extra_columns:
        notes.append(f"ignored undeclared columns: {', '.join(stats.extra_columns)}")
    if stats.missing_columns:
        notes.append(f"absent nullable columns loaded as NULL: {', '.join(stats.missing_columns)}")
    result = NormalizedFile(obj, key, size, rows_read, rows_written, notes=tuple(notes))
    if not rejects:
        return result
    raw_texts = _raw_texts(parse_contract, landing, obj, {r.line for r in rejects})
    rejects_key = key[: -len(".csv.gz")] + ".rejects.csv.gz"
    with _gzip_csv(landing, rejects_key) as (writer, counter):
        writer.writerow(["line_number", "column_name", "reason", "value", "raw_text"])
        for r in sorted(rejects, key=lambda r: r.line):
            writer.writerow([
                r.line, _fit(r.column, 128) or "", _fit(r.reason, VARCHAR_MAX) or "?",
                _fit(r.value, VARCHAR_MAX) or "", _fit(raw_texts.get(r.line), VARCHAR_MAX) or "",
            ])
    return NormalizedFile(
        obj, key, size, rows_read, rows_written, len(rejects), rejects_key, counter.size, tuple(notes)
    )


def _raw_texts(contract: Contract, landing: Landing, obj: LandingObject, lines: set[int]) -> dict[int, str]:
    """Second pass (only when something was rejected): the raw text of those source lines."""
    found: dict[int, str] = {}
    with contextlib.suppress(FileRefused, UnicodeError, *DECOMPRESSION_ERRORS):
        with _batches(contract, landing, obj, ParseStats(), lines) as records:
            for line, raw, _values in records:
                found[line] = raw
    return found


# ---------------------------------------------------------------------------------------------- writer
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

    def ensure_meta(self) -> None:
        _run(self._cursor(), meta_ddl())

    def ensure_table(self, contract: Contract) -> None:
        cursor = self._cursor()
        tables = [contract.raw_table] + ([contract.changes_table] if contract.load.mode == "merge" else [])
        for table in tables:
            _run(cursor, [existing_columns_query(table)])
            existing = {name: dtype for name, dtype in cursor.fetchall()}
            if existing:
                _run(cursor, evolve_table_sql(contract, table, existing))
            else:
                _run(cursor, raw_tables_ddl(contract)[:1] + [create_table_sql(contract, table)])

    def _already_done(self, contract: Contract, obj: LandingObject, retry_refused: bool) -> bool:
        cursor = self._cursor()
        _run(cursor, [_stmt(
            f'SELECT "status", "contract_fingerprint" FROM {_ledger("load_ledger")} WHERE "contract" = %s '
            'AND "file_key" = %s AND "file_version" = %s', contract.name, obj.key, obj.version,
        )])
        row = cursor.fetchone()
        return row is not None and not PostgresWriter.is_pending(tuple(row), contract, retry_refused)

    def prepare(self, contract: Contract, obj: LandingObject) -> FilePlan:
        """Probe, normalise when needed, plan, and upload the plan's manifests."""
        shape = probe_shape(contract, self.landing, obj)
        reasons = _route(contract, shape).reasons
        normalized = normalize(contract, self.landing, obj) if reasons else None
        file_plan = plan_file(
            contract, obj, landing_uri=self.landing_uri, iam_role=self.iam_role, batch_id=self.batch_id,
            shape=shape, normalized=normalized,
        )
        for key, body in file_plan.artifacts.items():
            with self.landing.writer(key) as out:
                out.write(body)
        return file_plan

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

    def load(self, contract: Contract, obj: LandingObject, *, retry_refused: bool = False) -> FileResult:
        if self._already_done(contract, obj, retry_refused):
            return FileResult(contract.name, obj.key, obj.version, "skipped")
        file_plan = self.prepare(contract, obj)
        # a normalised copy was read with If-Match, so it is that version; a direct COPY is re-checked
        verify = (lambda: self._verify(obj)) if file_plan.normalized is None and file_plan.refused is None else None
        return execute_plan(self._cursor(), file_plan, retry_refused=retry_refused, verify=verify)
