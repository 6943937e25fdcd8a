"""Source contracts: one YAML file per source entity in ``ingestion/contracts/``.

A contract declares where a feed lands, how its files are parsed, the typed columns of its raw
table, its key and load mode. Onboarding a new CSV / JSONL / Parquet feed is a new contract file.
Contracts are validated with pydantic (``extra="forbid"``): a bad contract fails naming the file
and the field. ``python -m ingestion.contract --schema`` prints the JSON schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import TerraMinerError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
NAME_RE = r"^[a-z][a-z0-9_]*__[a-z][a-z0-9_]*$"
IDENT_RE = r"^[a-z_][a-z0-9_]*$"
_TYPE_RE = re.compile(
    r"^(text|varchar\((\d+)\)|char\((\d+)\)|smallint|integer|bigint|numeric\((\d+),\s*(\d+)\)|real|"
    r"double precision|boolean|date|timestamp|timestamptz)$"
)
RESERVED_COLUMNS = ("_file_key", "_file_version", "_row_number", "_loaded_at")
# Date formats PostgreSQL parses natively (with the DateStyle given); anything else is parsed in Python.
NATIVE_DATE_FORMATS = {
    "%Y-%m-%d": "ISO, YMD",
    "%Y%m%d": "ISO, YMD",
    "%Y%m%dT%H%M%S": "ISO, YMD",
    "%Y-%m-%d %H:%M": "ISO, YMD",
    "%Y-%m-%d %H:%M:%S": "ISO, YMD",
    "%Y-%m-%dT%H:%M:%S": "ISO, YMD",
    "%Y-%m-%dT%H:%M:%SZ": "ISO, YMD",
    "%m/%d/%Y": "ISO, MDY",
    "%d/%m/%Y": "ISO, DMY",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Unpivot(_Strict):
    """Wide → long: one output row per non-empty cell of the matching columns."""

    id_columns: list[str] = Field(description="source columns repeated on every output row")
    columns_matching: str = Field(".*", description="regex over header names of the value columns")
    name_column: str = Field(description="target column receiving the header name of the cell")
    value_column: str = Field(description="target column receiving the cell value")

    @field_validator("columns_matching")
    @classmethod
    def _regex(cls, value: str) -> str:
        re.compile(value)
        return value


class Format(_Strict):
    type: Literal["csv", "jsonl", "parquet"]
    compression: Literal["auto", "none", "gzip"] = "auto"
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    header: bool = True
    skip_lines: int = Field(0, ge=0, description="physical lines before the header (notices, titles)")
    null_tokens: list[str] = Field(default_factory=lambda: [""])
    thousands_separator: str | None = None
    skip_blank_rows: bool = Field(False, description="rows whose fields are all empty are not data")
    strip_header: bool = True
    unpivot: Unpivot | None = None

    @field_validator("delimiter", "quote")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character")
        return value

    @field_validator("encoding")
    @classmethod
    def _codec(cls, value: str) -> str:
        import codecs

        codecs.lookup(value)
        return value

    @model_validator(mode="after")
    def _checks(self) -> Format:
        if "" not in self.null_tokens:
            raise ValueError("null_tokens must include '' (the raw layer stores empty fields as NULL)")
        if self.type != "csv" and (not self.header or self.skip_lines or self.unpivot):
            raise ValueError("header/skip_lines/unpivot apply to csv only")
        return self


class Column(_Strict):
    name: str = Field(pattern=IDENT_RE, description="target column in raw.<contract>")
    source: str | None = Field(None, description="header name (csv), key (jsonl), field (parquet); default name")
    position: int | None = Field(None, ge=1, description="1-based field position for header-less csv")
    aliases: list[str] = Field(default_factory=list, description="older/alternative header names")
    type: str
    nullable: bool = True
    date_format: str | None = None
    description: str = ""

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = " ".join(value.lower().split())
        if not _TYPE_RE.match(value):
            raise ValueError(
                f"unsupported type {value!r}: use text, varchar(n), smallint, integer, bigint, numeric(p,s), "
                "real, double precision, boolean, date, timestamp or timestamptz"
            )
        return value

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_COLUMNS:
            raise ValueError(f"{value} is reserved for load metadata")
        return value

    @property
    def source_name(self) -> str:
        return self.source if self.source is not None else self.name

    @property
    def is_temporal(self) -> bool:
        return self.type in ("date", "timestamp", "timestamptz")

    @property
    def is_numeric(self) -> bool:
        return self.type.startswith(("numeric", "smallint", "integer", "bigint", "real", "double"))

    @property
    def redshift_type(self) -> str:
        if self.type == "text":
            return "varchar(65535)"
        if self.type == "timestamptz":
            return "timestamptz"
        return self.type


class ChangeType(_Strict):
    column: str = Field(pattern=IDENT_RE)
    add: list[str]
    change: list[str]
    delete: list[str]


class Load(_Strict):
    mode: Literal["append", "replace_file", "merge"]
    change_type: ChangeType | None = None

    @model_validator(mode="after")
    def _merge_needs_change_type(self) -> Load:
        if self.mode == "merge" and self.change_type is None:
            raise ValueError("mode merge needs change_type (column and add/change/delete values)")
        if self.mode != "merge" and self.change_type is not None:
            raise ValueError("change_type applies to mode merge only")
        return self


class SchemaEvolution(_Strict):
    extra_columns: Literal["ignore", "refuse"] = Field(
        "ignore", description="source columns the contract does not declare"
    )
    missing_nullable_columns: Literal["null", "refuse"] = Field(
        "null", description="declared nullable columns absent from a file"
    )


class Limits(_Strict):
    """Bounds that keep one hostile or broken file from exhausting the loader (peak RSS stays in the
    low hundreds of MB whatever the input). A file over a limit is refused with the reason; raise a
    limit in the contract for a feed that legitimately needs more."""

    max_line_bytes: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, description="longest physical line (decompressed bytes); longer: refused"
    )
    max_decompressed_bytes: int = Field(
        64 * 1024**3, ge=1, description="decompressed bytes per compressed file; more: refused"
    )
    max_compression_ratio: float = Field(
        200.0, ge=1, description="decompressed/compressed bytes of a gzip file (checked after 64 MiB); "
        "above: refused as a compression bomb",
    )
    max_json_depth: int = Field(64, ge=1, le=10_000, description="JSON nesting depth of a record; deeper: row rejected")
    reject_details: int = Field(
        1000, ge=0, description="rejected rows per file kept with their raw text; later ones keep line, "
        "column, reason and the value's first 1,000 characters (the count stays exact)",
    )
    reject_sample_rows: int = Field(
        1000, ge=1, description="rows read before a file whose reject share is already certain to exceed "
        "reject_threshold is refused early",
    )


class Freshness(_Strict):
    warn_after_hours: int = 48
    error_after_hours: int = 168


class Contract(_Strict):
    name: str = Field(pattern=NAME_RE, description="<source>__<entity>; equals the file name")
    description: str
    landing_prefix: str
    format: Format
    columns: list[Column] = Field(min_length=1)
    key: list[str] = Field(default_factory=list)
    index_key: bool = Field(
        False,
        description="btree index on the key in the raw table (Postgres). Staging drops a re-delivered row "
        "by looking its key up among earlier deliveries; a daily incremental build makes that lookup for "
        "every new row, which without the index hashes the whole raw table each time. It costs load speed, "
        "so set it on the feeds delivered every day.",
    )
    load: Load
    schema_evolution: SchemaEvolution = SchemaEvolution()
    reject_threshold: float = Field(0.05, ge=0, le=1, description="share of rejected rows that refuses a file")
    limits: Limits = Limits()
    freshness: Freshness = Freshness()
    partitions: Literal["daily"] | None = Field(
        None,
        description="daily: a feed delivered every day whose landing keys carry the landing date "
        "(<prefix><yyyy>/<mm>/<dd>/<file>); Dagster partitions its ingestion asset by that date, so a "
        "date range of files can be backfilled (in one run) or one day re-run",
    )
    personal_columns: list[str] = Field(default_factory=list, description="hashed in staging, never in marts")

    @model_validator(mode="after")
    def _consistency(self) -> Contract:
        expected = self.name.replace("__", "/", 1) + "/"
        if self.landing_prefix != expected:
            raise ValueError(f"landing_prefix must be {expected!r} (<source>/<entity>/)")
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names {dupes}")
        for field, values in (("key", self.key), ("personal_columns", self.personal_columns)):
            unknown = [k for k in values if k not in names]
            if unknown:
                raise ValueError(f"{field} names unknown columns {unknown}")
        if self.index_key and not self.key:
            raise ValueError("index_key needs a key")
        if self.load.mode == "merge":
            if not self.key:
                raise ValueError("mode merge needs a key")
            if self.load.change_type.column not in names:
                raise ValueError(f"change_type.column {self.load.change_type.column!r} is not a column")
        fmt = self.format
        if fmt.type == "csv" and not fmt.header:
            missing = [c.name for c in self.columns if c.position is None]
            if missing and not fmt.unpivot:
                raise ValueError(f"header-less csv needs a position for every column: {missing}")
        if fmt.unpivot:
            produced = set(fmt.unpivot.id_columns) | {fmt.unpivot.name_column, fmt.unpivot.value_column}
            if set(names) - produced:
                raise ValueError(
                    f"with unpivot, columns must be id_columns + name_column + value_column; extra: "
                    f"{sorted(set(names) - produced)}"
                )
        for col in self.columns:
            if col.date_format and not col.is_temporal:
                raise ValueError(f"column {col.name}: date_format applies to date/timestamp columns only")
        return self

    # --------------------------------------------------------------- helpers
    @property
    def raw_table(self) -> str:
        return self.name

    @property
    def changes_table(self) -> str:
        return f"{self.name}__changes"

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever the contract changes (a refused file is retried under a new contract)."""
        # default limits are left out: contracts written before limits existed keep their fingerprint
        exclude = {"limits"} if self.limits == Limits() else None
        return hashlib.sha256(self.model_dump_json(exclude=exclude).encode()).hexdigest()[:16]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _format_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"contract {path}: field {where}: {first['msg']}{more}"


def load_contract(path: Path) -> Contract:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise TerraMinerError(f"contract {path}: not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise TerraMinerError(f"contract {path}: expected a mapping at the top level")
    try:
        contract = Contract.model_validate(data)
    except ValidationError as err:
        raise TerraMinerError(_format_error(path, err)) from None
    if contract.name != path.stem:
        raise TerraMinerError(f"contract {path}: field name: {contract.name!r} must equal the file name {path.stem!r}")
    return contract


def load_contracts(directory: Path = CONTRACTS_DIR, names: list[str] | None = None) -> dict[str, Contract]:
    """All contracts in ``directory`` (sorted by name), or only ``names`` (unknown names are an error)."""
    contracts = {}
    for path in sorted(Path(directory).glob("*.yml")):
        contract = load_contract(path)
        contracts[contract.name] = contract
    if names:
        unknown = [n for n in names if n not in contracts]
        if unknown:
            raise TerraMinerError(
                f"unknown contract(s) {', '.join(unknown)}: known are {', '.join(contracts) or 'none'}"
            )
        contracts = {n: contracts[n] for n in names}
    return contracts


def json_schema() -> dict:
    return Contract.model_json_schema()


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(json_schema(), indent=2))
