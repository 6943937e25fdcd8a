"""Big-delivery benchmark (issue 19, deliverable 5): a large new market lands on a built warehouse.

On a fresh embedded stack (``temporary_stack``, env ci): the demo's synthetic feeds (``--scale``,
default the demo's 5), ``terraminer ingest``, ``dbt seed`` and the scheduled ``dbt build`` (the demo
warehouse's marts). Then the real NYC rolling-sales and UK price-paid files from ``../shared/data``
(``--data-dir``) are ingested and the same ``dbt build`` runs incrementally (timed): the plans of
its incremental models must be made on the new sizes (the ``refresh_statistics`` post-hook refreshes
the statistics of a model whose table just grew by a large share), not on those of the demo
warehouse. The yardstick is a ``dbt build --full-refresh`` (timed) of the same warehouse in the same
state. The warehouse as the delivery's ingestion left it is set aside (database renamed) and every
timed build runs on a copy of it under the warehouse's own name (``create database ... template``, a
checkpoint before each), so both builds start from the same rows, snapshot and statistics and dbt's
partial parse stays valid; ``--repeat`` pairs (5) in alternating order, and the result is the median
of the pairs' ratios (a 40-second build on 2 cores varies by 10-15 % from run to run). Earlier
versions timed one full refresh after the incremental build, on the database it had just written.

Without the fix this check was written for, the incremental build spent more than 16 minutes in
``feat_avm_sales`` (planned while ``fct_sales``, rewritten moments before, still looked small); the
same build with fresh statistics took 31 s. Per-node timings of both builds come from
``run_results.json``. Last line:

    incremental_over_full=R incremental_s=X full_s=Y delivered_rows=N  (medians)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import dbt_bench_stack, write_result  # noqa: E402
from bench.dbt_incremental import BUILD, node_timings  # noqa: E402

FEEDS = ["nyc_dof", "uk_land_registry"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=5, help="synthetic scale of the demo warehouse (5)")
    parser.add_argument("--data-dir", type=Path, help="../shared/data (default: beside the repository)")
    parser.add_argument("--top", type=int, default=8, help="slowest nodes of each build to print")
    parser.add_argument("--repeat", type=int, default=5, help="pairs of builds to time (median; 5)")
    args = parser.parse_args(argv)

    from core.dbt import dbt_executable
    from ingestion.landing import open_landing
    from ingestion.real_feeds import default_data_dir, stage_real_feeds

    data_dir = args.data_dir or default_data_dir()
    python, dbt = sys.executable, dbt_executable()
    with dbt_bench_stack("tmbd-") as bench:
        step, landing, target, steps = bench.step, bench.landing, bench.target, bench.steps

        def count(table: str) -> int:
            return bench.query(f"select count(*) from {table}")[0]

        terraminer = [python, "-m", "terraminer.cli"]
        step("generate", [*terraminer, "generate", "--landing", str(landing), "--scale", str(args.scale)])
        step("ingest_demo", [*terraminer, "ingest", "--landing", str(landing), "--quiet"])
        step("dbt_seed", [dbt, "seed", "--target", "ci"])
        step("dbt_build_demo", [dbt, *BUILD])
        before = count("marts.fct_sales")

        keys = stage_real_feeds(open_landing(str(landing)), data_dir, FEEDS)
        if not keys:
            raise SystemExit(f"no NYC or UK files under {data_dir}: pass --data-dir (see ../shared/data/README.md)")
        print(f"delivery: {len(keys)} files ({', '.join(FEEDS)})", flush=True)
        step("ingest_delivery", [*terraminer, "ingest", "--landing", str(landing), "--quiet"])

        # Each pair of builds starts from the warehouse as the delivery left it (kept aside, re-created
        # for every build under its own name); the order within a pair alternates.
        bench.keep_state("delivered")
        pairs, inc_nodes, full_nodes, delivered, after_full = [], {}, {}, 0, 0
        for rep in range(1, args.repeat + 1):
            timed = {}
            for kind in (("incremental", "full") if rep % 2 else ("full", "incremental")):
                with bench.from_state("delivered"):
                    extra = ["--full-refresh"] if kind == "full" else []
                    timed[kind] = step(f"dbt_build_{kind}_{rep}", [dbt, *BUILD, *extra])["seconds"]
                    nodes = node_timings(target)
                    rows = count("marts.fct_sales")
                if rep == 1 and kind == "incremental":
                    inc_nodes, delivered = nodes, rows - before
                elif rep == 1:
                    full_nodes, after_full = nodes, rows
            pairs.append(timed)

    inc_s = statistics.median(p["incremental"] for p in pairs)
    full_s = statistics.median(p["full"] for p in pairs)
    ratio = statistics.median(p["incremental"] / p["full"] for p in pairs)
    payload = {
        "scale": args.scale, "feeds": FEEDS, "files": keys, "fct_sales_rows_before": before,
        "delivered_rows": delivered, "fct_sales_rows_after_full_refresh": after_full,
        "incremental_s": inc_s, "full_s": full_s, "incremental_over_full": round(ratio, 4),
        "pairs": [{k: round(v, 2) for k, v in p.items()} | {"ratio": round(p["incremental"] / p["full"], 4)}
                  for p in pairs],
        "meets_target": ratio <= 1.0, "dbt_build_args": BUILD, "steps": steps,
        "dbt_incremental": {k: v for k, v in inc_nodes.items() if k != "all"} | {"slowest": inc_nodes["all"][:25]},
        "dbt_full_refresh": {k: v for k, v in full_nodes.items() if k != "all"} | {"slowest": full_nodes["all"][:25]},
    }
    path = write_result("big_delivery", payload)
    full_by_id = {row["unique_id"]: row["seconds"] for row in full_nodes["all"]}
    print(f"\nslowest nodes of the incremental build ({inc_nodes['nodes']} nodes):")
    for row in inc_nodes["all"][: args.top]:
        print(f"  {row['seconds']:7.1f} s (full refresh {full_by_id.get(row['unique_id'], float('nan')):6.1f} s)  "
              f"{row['resource_type']:<6} {row['name']}")
    print("pairs (incremental / full refresh): "
          + ", ".join(f"{p['incremental']:.1f} / {p['full']:.1f} s" for p in pairs))
    cpu = {kind: statistics.median(s["cpu_s"] for name, s in steps.items() if name.startswith(f"dbt_build_{kind}_"))
           for kind in ("incremental", "full")}
    print(f"dbt's own CPU (median): incremental {cpu['incremental']:.1f} s, full refresh {cpu['full']:.1f} s")
    print(f"results: {path}")
    print(f"incremental_over_full={ratio:.3f} incremental_s={inc_s:.1f} full_s={full_s:.1f} delivered_rows={delivered}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
