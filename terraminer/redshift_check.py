"""Reject PostgreSQL-only constructs in compiled dbt SQL (docs/ARCHITECTURE.md §6 never-list).

sqlglot happily parses most Postgres-only SQL with ``read='redshift'``, so parsing is no
validation by itself. Instead every statement is parsed as Postgres and its tree is walked for
node types Redshift does not support; a token scan (comments and string literals removed) backs
it up for constructs the tree does not model.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp

_FORBIDDEN_NODES: list[tuple[type, str]] = [
    (exp.Lateral, "LATERAL"),
    (exp.Filter, "aggregate FILTER (WHERE ...)"),
    (exp.ArrayAgg, "array_agg"),
    (exp.Array, "ARRAY constructor"),
    (exp.GroupConcat, "string_agg / group_concat"),
    (exp.GenerateSeries, "generate_series"),
    (exp.NullSafeEQ, "IS NOT DISTINCT FROM"),
    (exp.NullSafeNEQ, "IS DISTINCT FROM"),
    (exp.OnConflict, "ON CONFLICT"),
    (exp.JSONExtract, "JSON operator -> / ->>"),
    (exp.JSONExtractScalar, "JSON operator ->>"),
    (exp.JSONBExtract, "jsonb operator"),
    (exp.JSONBExtractScalar, "jsonb operator"),
    (exp.JSONBContains, "jsonb @>"),
    (exp.Unnest, "unnest"),
]
_TOKEN_PATTERNS = [
    (re.compile(r"\bdistinct\s+on\s*\(", re.I), "DISTINCT ON"),
    (re.compile(r"\bfilter\s*\(\s*where\b", re.I), "aggregate FILTER (WHERE ...)"),
    (re.compile(r"\b(array_agg|string_agg|array_to_string|unnest|generate_series|jsonb_\w+|to_jsonb)\s*\(", re.I),
     "Postgres-only function"),
    (re.compile(r"\blateral\b", re.I), "LATERAL"),
    (re.compile(r"\bis\s+(not\s+)?distinct\s+from\b", re.I), "IS DISTINCT FROM"),
    (re.compile(r"\brange\s+between\b", re.I), "RANGE window frame"),
    (re.compile(r"\bgroups\s+between\b", re.I), "GROUPS window frame"),
    (re.compile(r"->>?|#>>?|@>|<@|\?\|", re.I), "JSON/array operator"),
    (re.compile(r"\bon\s+conflict\b", re.I), "ON CONFLICT"),
    (re.compile(r"::\s*(jsonb?|text\[\]|int\[\]|uuid|regclass)\b", re.I), "Postgres-only type"),
    (re.compile(r"\b(numeric|decimal|varchar|character\s+varying)\b(?!\s*\()", re.I), "bare numeric/varchar (give precision)"),
    (re.compile(r"\bilike\b", re.I), None),  # Redshift supports ILIKE: explicitly fine
]
_STRIP = re.compile(r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'", re.S)


def _strip(sql_text: str) -> str:
    return _STRIP.sub(" ", sql_text)


def check_sql(sql_text: str, name: str = "<sql>") -> list[str]:
    problems = []
    code = _strip(sql_text)
    for pattern, label in _TOKEN_PATTERNS:
        if label is None:
            continue
        match = pattern.search(code)
        if match:
            problems.append(f"{name}: {label}: `{match.group(0).strip()}`")
    try:
        statements = sqlglot.parse(sql_text, read="postgres")
    except sqlglot.errors.ParseError as err:
        problems.append(f"{name}: does not parse: {str(err).splitlines()[0]}")
        return problems
    for tree in statements:
        if tree is None:
            continue
        for node_type, label in _FORBIDDEN_NODES:
            if tree.find(node_type) is not None:
                problems.append(f"{name}: {label}")
        for window in tree.find_all(exp.WindowSpec):
            if (window.args.get("kind") or "").upper() == "RANGE":
                problems.append(f"{name}: RANGE window frame")
        for select in tree.find_all(exp.Select):
            distinct = select.args.get("distinct")
            if distinct is not None and distinct.args.get("on") is not None:
                problems.append(f"{name}: DISTINCT ON")
    return sorted(set(problems))


def check_compiled(compiled_dir: Path) -> list[str]:
    """Check every compiled model/snapshot/test SQL file under ``target/compiled``."""
    problems = []
    files = sorted(Path(compiled_dir).rglob("*.sql"))
    if not files:
        return [f"no compiled SQL under {compiled_dir}: run dbt compile first"]
    for path in files:
        rel = path.relative_to(compiled_dir)
        problems += check_sql(path.read_text(), str(rel))
    return problems
