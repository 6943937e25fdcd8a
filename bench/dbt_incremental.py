"""dbt incremental benchmark: a one-day incremental ``dbt build`` vs the full build of the same warehouse.

On a fresh embedded stack (``temporary_stack``, env ci): synthetic feeds at the scale giving about
``--sales`` sales over ``--days`` days (scale = sales x 1,096 / (1,000 x days)), ``terraminer ingest``,
``dbt seed``, a full ``dbt build`` (timed). Then one more day of files (the day after the window) is
generated and ingested, and ``dbt build`` runs again without ``--full-refresh`` (timed). New rows =
rows ``marts.fct_sales`` gained in the incremental run.

Both builds are the production build, which the Dagster schedules run (orchestration/assets/dbt.py):
every model, snapshot, seed and data test, without the dbt unit tests (``--exclude-resource-type
unit_test``). Those check model code against fixed fixtures and never read the warehouse, so their
verdict cannot change with a day of data; CI runs all of them on every commit (``make test``).

The extra day comes from a second ``generate`` call covering [last day, new day] in a scratch landing
zone; only keys that the warehouse's landing zone does not hold yet are copied over: the new day's
recorder sales file and MLS events file (plus an index file on publication days). The assessor
snapshot every ``generate`` call writes on its first day is left out (a call-start artifact, not a
daily delivery; the annual roll lands on Jan 2), and the first day's file of that call (with the MLS
bootstrap events) already exists, so it is not copied either.

Every step is a subprocess, timed, with the peak RSS of its process tree and of the warehouse
server (PSS) sampled; per-node dbt timings come from each build's ``run_results.json`` (dbt writes to
a private target path, so concurrent dbt runs in the repository do not interfere). Last line:

    incremental_over_full=R full_s=X incremental_s=Y new_rows=N
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import dbt_bench_stack, write_result  # noqa: E402

START = dt.date(2022, 1, 1)
REFERENCE_DAYS = 1096  # ingestion.synthetic.context: scale N gives about N x 1,000 sales per 1,096 days
SEED = 7
TARGET_RATIO = 0.10
BUILD = ["build", "--exclude-resource-type", "unit_test", "--target", "ci"]  # the scheduled build


def scale_for(sales: int, days: int) -> int:
    return max(1, round(sales * REFERENCE_DAYS / (1000 * days)))


def node_timings(target: Path) -> dict:
    """Per-node timings of the last dbt invocation in ``target`` (run_results + manifest)."""
    results = json.loads((target / "run_results.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = manifest.get("nodes", {})
    rows = []
    for r in results["results"]:
        uid = r["unique_id"]
        node = nodes.get(uid, {})
        tested = [d.split(".")[-1] for d in node.get("depends_on", {}).get("nodes", []) if d.startswith("model.")]
        rows.append({
            "unique_id": uid,
            "name": node.get("name", uid.split(".")[-1]),
            "resource_type": uid.split(".")[0],
            "materialized": node.get("config", {}).get("materialized"),
            "status": r["status"],
            "seconds": round(float(r["execution_time"]), 3),
            "rows_affected": (r.get("adapter_response") or {}).get("rows_affected"),
            **({"tests": "+".join(tested) or None} if uid.startswith(("test.", "unit_test.")) else {}),
        })
    rows.sort(key=lambda row: -row["seconds"])
    by_type: dict[str, float] = {}
    tests_by_model: dict[str, dict] = {}
    for row in rows:
        by_type[row["resource_type"]] = round(by_type.get(row["resource_type"], 0.0) + row["seconds"], 2)
        if row["resource_type"] == "test":
            group = tests_by_model.setdefault(row["tests"] or "(sources only)", {"tests": 0, "seconds": 0.0})
            group["tests"] += 1
            group["seconds"] = round(group["seconds"] + row["seconds"], 2)
    tests_by_model = dict(sorted(tests_by_model.items(), key=lambda kv: -kv[1]["seconds"]))
    return {"elapsed_s": round(float(results.get("elapsed_time", 0.0)), 2), "nodes": len(rows),
            "sum_node_seconds_by_type": by_type, "tests_by_tested_model": tests_by_model,
            "models": [row for row in rows if row["resource_type"] == "model"], "all": rows}


def copy_new_files(scratch: Path, landing: Path) -> list[str]:
    copied = []
    for path in sorted(scratch.rglob("*")):
        if not path.is_file():
            continue
        key = path.relative_to(scratch).as_posix()
        if key.startswith(("_truth/", "assessor/")) or (landing / key).exists():
            continue
        (landing / key).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, landing / key)
        copied.append(key)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sales", type=int, default=1_000_000, help="about this many synthetic sales (1,000,000)")
    parser.add_argument("--days", type=int, default=1095,
                        help="days of the initial window from 2022-01-01 (1095: the extra day is 2024-12-31)")
    parser.add_argument("--top", type=int, default=12, help="slowest nodes of each build to print")
    args = parser.parse_args(argv)

    from core.dbt import dbt_executable

    scale = scale_for(args.sales, args.days)
    new_day = START + dt.timedelta(days=args.days)
    python, dbt = sys.executable, dbt_executable()

    with dbt_bench_stack("tmdi-", memory_line=True) as bench:
        step, query, landing, target, work, steps = (bench.step, bench.query, bench.landing, bench.target,
                                                     bench.work, bench.steps)

        terraminer = [python, "-m", "terraminer.cli"]
        print(f"scale {scale} ({args.days} days from {START}), stack {bench.settings.home_dir}", flush=True)
        step("generate", [*terraminer, "generate", "--landing", str(landing), "--scale", str(scale), "--seed",
                          str(SEED), "--start", START.isoformat(), "--days", str(args.days)])
        step("ingest", [*terraminer, "ingest", "--landing", str(landing), "--quiet"])
        raw_sales = query("select count(*) from raw.recorder__sales")[0]
        print(f"raw.recorder__sales: {raw_sales:,} rows", flush=True)
        step("dbt_seed", [dbt, "seed", "--target", "ci"])
        full = step("dbt_build_full", [dbt, *BUILD])
        full_nodes = node_timings(target)
        before, watermark = query("select count(*), max(loaded_at) from marts.fct_sales")

        scratch = work / "extra-landing"
        step("generate_extra_day", [*terraminer, "generate", "--landing", str(scratch), "--scale", str(scale),
                                    "--seed", str(SEED), "--start", (new_day - dt.timedelta(days=1)).isoformat(),
                                    "--days", "2"])
        copied = copy_new_files(scratch, landing)
        print(f"extra day {new_day}: {', '.join(copied)}", flush=True)
        raw_before = query("select count(*) from raw.recorder__sales")[0]
        step("ingest_extra_day", [*terraminer, "ingest", "--landing", str(landing), "--quiet"])
        raw_added = query("select count(*) from raw.recorder__sales")[0] - raw_before
        incremental = step("dbt_build_incremental", [dbt, *BUILD])
        inc_nodes = node_timings(target)
        after, from_new_files = query(
            f"select count(*), count(*) filter (where loaded_at > '{watermark.isoformat()}') from marts.fct_sales"
        )

    new_rows = after - before
    full_s, inc_s = full["seconds"], incremental["seconds"]
    ratio = inc_s / full_s
    full_by_id = {row["unique_id"]: row["seconds"] for row in full_nodes["all"]}
    slowest = [dict(row, full_seconds=full_by_id.get(row["unique_id"])) for row in inc_nodes["all"][:25]]
    top = slowest[: args.top]
    fct = next((row for row in inc_nodes["all"] if row["name"] == "fct_sales"), None)
    payload = {
        "sales_target": args.sales, "scale": scale, "days": args.days, "seed": SEED, "extra_day": new_day.isoformat(),
        "raw_sales": raw_sales, "extra_day_files": copied, "extra_day_raw_sales": raw_added,
        "fct_sales_rows_before": before, "fct_sales_rows_after": after, "new_rows": new_rows,
        "fct_sales_rows_loaded_after_watermark": from_new_files,
        "full_s": full_s, "incremental_s": inc_s, "incremental_over_full": round(ratio, 4),
        "target_ratio": TARGET_RATIO, "meets_target": ratio <= TARGET_RATIO, "dbt_build_args": BUILD,
        "steps": steps,
        "dbt_full": {k: v for k, v in full_nodes.items() if k != "all"} | {"slowest": full_nodes["all"][:25]},
        "dbt_incremental": {k: v for k, v in inc_nodes.items() if k != "all"} | {"slowest": slowest,
                                                                                    "fct_sales": fct},
    }
    path = write_result("dbt_incremental", payload)

    print(f"\nslowest nodes of the incremental build (node seconds; {inc_nodes['nodes']} nodes, "
          f"sum by type {inc_nodes['sum_node_seconds_by_type']}):")
    for row in top:
        full_txt = f"{row['full_seconds']:.1f}" if row["full_seconds"] is not None else "-"
        print(f"  {row['seconds']:7.1f} s (full {full_txt:>6} s)  {row['resource_type']:<9} "
              f"{row['materialized'] or '':<12} {row['name']}")
    if fct:
        print(f"  fct_sales (incremental model): {fct['seconds']:.1f} s")
    print(f"results: {path}")
    print(f"incremental_over_full={ratio:.4f} full_s={full_s:.1f} incremental_s={inc_s:.1f} new_rows={new_rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
