"""``terraminer demo``: the whole pipeline on the embedded stack, through Dagster.

1. start the local stack (idempotent) and apply roles;
2. generate a small synthetic landing zone (only if it is empty, or with --fresh);
3. materialize the ``terraminer_pipeline`` job in-process on the local Dagster instance
   (ingestion → dbt build with tests → features → AVM training → scoring → valuation marts);
4. print row counts and where to look next.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

from core.errors import TerraMinerError
from core.settings import Settings

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


def step(message: str) -> None:
    print(f"==> {message}", flush=True)


def apply_environment(settings: Settings) -> None:
    """Export what dbt, MLflow and Dagster read, for this process and its children."""
    from terraminer.cli import env_exports

    os.environ.update(env_exports(settings))


def run_pipeline(settings: Settings, job_name: str = "terraminer_pipeline") -> None:
    from dagster import DagsterInstance

    from orchestration.project import prepare_manifest

    prepare_manifest()
    from orchestration.definitions import defs

    job = defs.resolve_job_def(job_name)
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    if not result.success:
        failed = [e.step_key for e in result.all_events if e.is_step_failure]
        raise TerraMinerError(
            f"pipeline run {result.run_id} failed in {', '.join(failed) or 'a step'}: open `make ui` → Runs, "
            f"or see the log above"
        )
    step(f"Dagster run {result.run_id} succeeded")


def summary(settings: Settings) -> list[tuple[str, int | None]]:
    from core.warehouse import connect

    counts = []
    with connect(settings) as conn:
        for schema, table in SUMMARY_TABLES:
            exists = conn.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0]
            value = conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0] if exists else None
            counts.append((f"{schema}.{table}", value))
    return counts


def run_demo(args, settings: Settings) -> int:
    from core.warehouse import connect
    from ingestion.landing import open_landing
    from ml.warehouse import ensure_ml_tables
    from terraminer import roles
    from terraminer.stack import LocalStack

    if not settings.embedded:
        raise TerraMinerError("the demo runs on the embedded stack: unset TERRAMINER_ENV or set it to local")
    started = time.perf_counter()
    step(f"starting the embedded warehouse under {settings.home_dir}")
    status = LocalStack(settings).up()
    print(f"    {status.message}")
    with connect(settings) as conn:
        roles.apply_postgres(conn)
        ensure_ml_tables(conn)
    apply_environment(settings)

    landing_dir = settings.home_dir / "landing"
    landing = open_landing(str(landing_dir))
    if args.fresh and landing_dir.exists():
        shutil.rmtree(landing_dir)
        landing_dir.mkdir()
    if not landing.list():
        from ingestion.synthetic import generate

        step(f"generating synthetic feeds (scale {args.scale}, seed {args.seed}) into {landing_dir}")
        result = generate(landing, scale=args.scale, seed=args.seed)
        print(f"    {len(result.files)} files: {result.parcels:,} parcels, {result.sales:,} sales, "
              f"{result.listing_events:,} listing events")
    else:
        step(f"landing zone {landing_dir} already has files (use --fresh to regenerate)")

    step("materializing the terraminer_pipeline job through Dagster")
    run_pipeline(settings)

    step("summary")
    counts = summary(settings)
    width = max(len(name) for name, _ in counts)
    for name, value in counts:
        shown = "-" if value is None else f"{value:,}"
        print(f"    {name:<{width}} {shown:>10} rows")
    elapsed = time.perf_counter() - started
    print(f"\nDone in {elapsed:.0f} s. Next:")
    print('    eval "$(.venv/bin/terraminer env)" && psql -c "select * from marts.mart_market_monthly limit 5"')
    print("    make ui          # Dagster UI: asset graph, runs, checks (http://127.0.0.1:3000)")
    print("    make mlflow-ui   # MLflow: experiment terraminer_avm, registered model (http://127.0.0.1:5000)")
    print("    terraminer down  # stop the warehouse (data stays under .terraminer/)")
    sys.stdout.flush()
    return 0
