"""``terraminer demo``: the whole pipeline on the embedded stack, through Dagster.

1. start the local stack (idempotent), roles and ML tables (:mod:`terraminer.pipeline`);
2. generate a small synthetic landing zone (only if it is empty, or with --fresh);
3. materialize the ``terraminer_pipeline`` job in-process on the local Dagster instance
   (ingestion → dbt build with tests → features → AVM training → scoring → valuation marts);
4. print row counts and where to look next.

The terminal gets one line per step (and per Dagster step) with its seconds; Dagster's and dbt's
full logs go to ``<TERRAMINER_HOME>/logs/demo-<time>.log``. ``--verbose`` prints them too.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from core.errors import TerraMinerError
from core.settings import Settings
from terraminer import pipeline
from terraminer.progress import Reporter, Step, new_log_path

SUMMARY_TABLES = [
    ("raw", "recorder__sales"),
    ("raw", "mls__listing_events"),
    ("ingestion_meta", "rejected_rows"),
    ("staging", "stg_recorder__sales"),
    ("marts", "dim_properties"),
    ("marts", "fct_sales"),
    ("marts", "fct_listings"),
    ("marts", "mart_market_monthly"),
    ("marts", "mart_alerts"),
    ("features", "feat_avm_sales"),
    ("ml", "property_valuations"),
    ("marts", "mart_property_valuations"),
]


def run_pipeline(reporter: Reporter, step: Step, log_path: Path, *, verbose: bool = False,
                 job_name: str = "terraminer_pipeline"):
    """Materialize ``job_name`` on the settings' Dagster instance (``DAGSTER_HOME``)."""
    from dagster import DagsterInstance

    from orchestration.project import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import defs

    with DagsterInstance.get() as instance:
        return pipeline.run_dagster_job(defs.resolve_job_def(job_name), instance=instance, reporter=reporter,
                                        step=step, log_path=log_path, verbose=verbose)


def summary(settings: Settings) -> list[tuple[str, int | None]]:
    from psycopg import sql

    from core.warehouse import connect

    counts = []
    with connect(settings) as conn:
        for schema, table in SUMMARY_TABLES:
            exists = conn.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0]
            value = None
            if exists:
                query = sql.SQL("select count(*) from {}").format(sql.Identifier(schema, table))
                value = conn.execute(query).fetchone()[0]
            counts.append((f"{schema}.{table}", value))
    return counts


def run_demo(args, settings: Settings) -> int:
    from ingestion.landing import open_landing

    if not settings.embedded:
        raise TerraMinerError("the demo runs on the embedded stack: unset TERRAMINER_ENV or set it to local")
    started = time.perf_counter()
    reporter = Reporter(live=not args.verbose)
    log_path = new_log_path(settings.home_dir, "demo")
    reporter.line(f"TerraMiner demo under {settings.home_dir}; full log: {log_path}")
    with reporter.step("start the embedded warehouse") as step:
        step.result = pipeline.start_stack(settings)
    with reporter.step("roles, schemas and ML tables"):
        pipeline.prepare_warehouse(settings)
    os.environ.update(settings.exports())  # what dbt, MLflow and Dagster read, for this process and its children

    landing_dir = settings.home_dir / "landing"
    landing = open_landing(str(landing_dir))
    if args.fresh and landing_dir.exists():
        shutil.rmtree(landing_dir)
        landing_dir.mkdir()
    if not landing.list():
        from ingestion.synthetic import generate

        with reporter.step(f"generate synthetic feeds (scale {args.scale}, seed {args.seed})") as step:
            result = generate(landing, scale=args.scale, seed=args.seed)
            step.result = (f"{len(result.files)} files, {result.parcels:,} parcels, {result.sales:,} sales, "
                           f"{result.listing_events:,} listing events")
    else:
        reporter.line(f"  landing zone {landing_dir} already has files (--fresh regenerates it)")

    with reporter.step("run the terraminer_pipeline job through Dagster") as step:
        run_pipeline(reporter, step, log_path, verbose=args.verbose)

    reporter.line("summary")
    counts = summary(settings)
    width = max(len(name) for name, _ in counts)
    for name, value in counts:
        shown = "-" if value is None else f"{value:,}"
        reporter.line(f"    {name:<{width}} {shown:>10} rows")
    reporter.line(f"Done in {time.perf_counter() - started:.0f} s. Next:")
    reporter.line('    eval "$(.venv/bin/terraminer env)" && psql -c "select * from marts.mart_market_monthly limit 5"')
    reporter.line("    make ui          # Dagster UI: asset graph, runs, checks (http://127.0.0.1:3000)")
    reporter.line("    make mlflow-ui   # MLflow: experiment terraminer_avm, registered model (http://127.0.0.1:5000)")
    reporter.line("    terraminer down  # stop the warehouse (data stays under .terraminer/)")
    return 0
