"""Redshift SQL text: statements with bound parameters, quoting, and the validated literals COPY needs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from core.errors import TerraMinerError
from ingestion.writers.base import META_SCHEMA

VARCHAR_MAX = 65535  # bytes

_IAM_ROLE = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?P<path>(?:/[A-Za-z0-9_.=+@-]+)*)/?$")


class RedshiftPlanError(TerraMinerError):
    """A load plan cannot be generated (invalid input, or a feature COPY cannot express)."""




class Statement(NamedTuple):
    """One statement: values are bound ``%s`` parameters (format paramstyle), never inlined."""

    sql: str
    params: tuple = ()


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



def stmt(sql: str, *params: Any) -> Statement:
    if sql.count("%s") != len(params) or sql.replace("%s", "").count("%"):
        raise AssertionError(f"placeholders do not match parameters in: {sql}")
    return Statement(sql, tuple(params))


def cols(names: Sequence[str], prefix: str = "") -> str:
    return ", ".join(prefix + quote_ident(n) for n in names)


def ledger_table(name: str) -> str:
    """``"ingestion_meta"."<name>"``."""
    return qualified(META_SCHEMA, name)


def run(cursor, statements: Sequence[Statement]) -> None:
    """Execute statements over a DB-API cursor, binding their parameters."""
    for sql, params in statements:
        if params:
            cursor.execute(sql, params)
        else:
            cursor.execute(sql)
