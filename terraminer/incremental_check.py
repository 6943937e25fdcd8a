"""Does an incremental dbt build leave exactly what a full rebuild would?

For each incremental model, its full-refresh SQL (``dbt compile --full-refresh``: every
``is_incremental()`` branch off) is run against the same upstream tables into a temporary table and
compared with the table the incremental runs produced, row by row on the model's key: same keys,
and every column equal (numbers within a relative 1e-9, the rounding noise of sums taken in
another order, plus one unit of a numeric column's last decimal). Used by
``tests/integration/test_dbt_incremental.py``.

    python -m terraminer.incremental_check            # against the warehouse of the environment
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

# model -> (key columns, columns that legitimately differ)
INCREMENTAL_MODELS: dict[str, tuple[list[str], list[str]]] = {
    "int_parcels_versioned": (["parcel_id", "roll_year"], []),
    "fct_assessments": (["property_id", "roll_year"], []),
    "int_listing_events_sequenced": (["event_id"], []),
    "int_listings_summarized": (["listing_id"], []),
    "fct_listings": (["listing_id"], []),
    "int_sales_classified": (["sale_id"], []),
    "int_sale_price_day_moments": (["region_id", "sale_date"], []),
    # fct_sales re-derives the outlier flags of the sales within incremental_lookback_days of its
    # watermark only (by design: the region-year profile moves a little with every day of sales);
    # everything else must match
    "fct_sales": (["sale_id"], ["price_zscore", "is_outlier", "outlier_reason"]),
    "int_assessor__properties": (["property_id"], []),
    "int_properties_unioned": (["property_id"], []),
    "int_market_day_totals": (["group_kind", "group_id", "sale_date"], []),
    "int_price_index_cells": (["region_id", "sale_month", "method", "submarket_id", "property_type"], []),
    "int_market_month_sales": (["region_id", "sale_month"], []),
    "int_market_month_listings": (["region_id", "activity_month"], []),
    "feat_avm_sales": (["sale_id"], []),
    "int_property_features": (["property_id"], []),
    "mart_alerts": (["alert_id"], []),
}

_NUMERIC = {"numeric", "double precision", "real", "bigint", "integer", "smallint"}


@dataclass
class ModelCheck:
    model: str
    rows: int
    full_rows: int
    mismatched_rows: int
    columns: dict[str, int] = field(default_factory=dict)  # column -> rows that differ

    @property
    def ok(self) -> bool:
        return self.rows == self.full_rows and self.mismatched_rows == 0

    def line(self) -> str:
        if self.ok:
            return f"{self.model}: {self.rows:,} rows, identical to a full rebuild"
        diff = ", ".join(f"{c} ({n})" for c, n in sorted(self.columns.items())) or "keys"
        return (f"{self.model}: {self.rows:,} rows vs {self.full_rows:,} in a full rebuild; "
                f"{self.mismatched_rows:,} rows differ: {diff}")


def compile_full_refresh(models: list[str], env: dict[str, str], project_dir: Path) -> dict[str, tuple[str, str, str]]:
    """(schema, table, full-refresh SQL) of each model, compiled against the live warehouse."""
    from core.dbt import dbt_executable

    with tempfile.TemporaryDirectory(prefix="tm-fullsql-") as target:
        cmd = [dbt_executable(), "compile", "--full-refresh", "--quiet",
               "--target-path", target, "--select", *models]
        result = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"dbt compile --full-refresh failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        manifest = json.loads((Path(target) / "manifest.json").read_text())
        out = {}
        for node in manifest["nodes"].values():
            if node["resource_type"] == "model" and node["name"] in models:
                out[node["name"]] = (node["schema"], node["alias"], node["compiled_code"])
        return out


def compare(conn, model: str, schema: str, table: str, full_sql: str, keys: list[str],
            ignore: list[str]) -> ModelCheck:
    columns = conn.execute(
        "select column_name, data_type, numeric_scale from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()
    if not columns:
        raise RuntimeError(f"{schema}.{model} does not exist: build it first")
    temp = f"full_{model}"
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(temp)))
    conn.execute(sql.SQL("create temporary table {} as ").format(sql.Identifier(temp)) + sql.SQL(full_sql))
    target = sql.Identifier(schema, table)
    rows = conn.execute(sql.SQL("select count(*) from {}").format(target)).fetchone()[0]
    full_rows = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(temp))).fetchone()[0]
    join = sql.SQL(" and ").join(
        sql.SQL("inc.{c} = full_.{c}").format(c=sql.Identifier(k)) for k in keys
    )
    differs = []
    names = []
    for name, dtype, scale in columns:
        if name in keys or name in ignore or name == "dbt_updated_at":  # when the row was written
            continue
        a, b = sql.SQL("inc.{}").format(sql.Identifier(name)), sql.SQL("full_.{}").format(sql.Identifier(name))
        if dtype in _NUMERIC:
            # sums taken in another order differ in the last bits, which a rounding cast to the
            # column's scale can turn into one unit of its last place
            unit = sql.Literal(10.0 ** -(scale or 0) if dtype == "numeric" and scale else 0.0)
            cond = sql.SQL("(({a} is null) <> ({b} is null) or abs({a} - {b}) > 1e-9 * greatest(1, abs({b})) + {u})").format(
                a=a, b=b, u=unit)
        else:
            cond = sql.SQL("{a} is distinct from {b}").format(a=a, b=b)
        differs.append(cond)
        names.append(name)
    missing = sql.SQL(" or ").join(
        [sql.SQL("inc.{} is null").format(sql.Identifier(keys[0])), sql.SQL("full_.{} is null").format(sql.Identifier(keys[0]))]
    )
    per_column = sql.SQL(", ").join(
        sql.SQL("count(*) filter (where {})").format(cond) for cond in differs
    ) if differs else sql.SQL("0")
    query = sql.SQL(
        "select count(*) filter (where {missing} or {anydiff}), {per_column} "
        "from {target} as inc full outer join {temp} as full_ on {join}"
    ).format(
        missing=missing,
        anydiff=sql.SQL(" or ").join(differs) if differs else sql.SQL("false"),
        per_column=per_column, target=target, temp=sql.Identifier(temp), join=join,
    )
    result = conn.execute(query).fetchone()
    conn.execute(sql.SQL("drop table {}").format(sql.Identifier(temp)))
    column_diffs = {n: c for n, c in zip(names, result[1:], strict=False) if c}
    return ModelCheck(model, rows, full_rows, result[0], column_diffs)


def check(settings, models: dict[str, tuple[list[str], list[str]]] | None = None,
          env: dict[str, str] | None = None) -> list[ModelCheck]:
    """Compare every incremental model of the warehouse of ``settings`` with its full rebuild."""
    from core.dbt import dbt_env
    from core.settings import project_dir
    from core.warehouse import connect

    models = models or INCREMENTAL_MODELS
    env = dbt_env(settings, **(env or {}))
    full = compile_full_refresh(list(models), env, project_dir())
    results = []
    with connect(settings) as conn:
        for model, (keys, ignore) in models.items():
            schema, table, full_sql = full[model]
            results.append(compare(conn, model, schema, table, full_sql, keys, ignore))
        conn.rollback()
    return results


def main() -> int:
    from core.settings import Settings

    results = check(Settings())
    for r in results:
        print(("ok    " if r.ok else "DIFF  ") + r.line())
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
