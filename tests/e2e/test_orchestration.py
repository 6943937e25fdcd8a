"""The Dagster code location end to end, on a real embedded warehouse with small synthetic feeds.

One module-scoped pipeline (the expensive part, ~1-2 min) is shared by the tests:
- the definitions validate and load, and the lineage graph is connected from every raw asset to
  the valuation mart;
- the whole graph materializes in-process (ingestion → dbt build with tests → features → AVM with
  its quality gate → batch valuations → valuation marts);
- new landing files are found by the landing sensor, whose run request loads them and rebuilds
  what is downstream, and the new sales reach fct_sales;
- a failing error-severity dbt test on feat_avm_sales stops ml/avm_model from running;
- the alerts sensor sends new alerts to the outbox once.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from core.settings import Settings, project_dir

XDIST_WEIGHT = 300  # seconds on 2 cores: conftest starts heavy files first
RAW = "raw"
AVM_MODEL = dg.AssetKey(["ml", "avm_model"])
VALUATIONS = dg.AssetKey(["ml", "property_valuations"])
FEATURES = dg.AssetKey(["features", "feat_avm_sales"])
VALUATION_MART = dg.AssetKey(["marts", "mart_property_valuations"])
SCALE = 2


@pytest.fixture(scope="module")
def landing(pipeline_env):
    from ingestion.landing import open_landing
    from ingestion.synthetic import generate

    store = open_landing(pipeline_env.landing)
    generate(store, scale=SCALE, seed=11)
    return store


def _scalar(settings: Settings, query: str, params=None):
    with psycopg.connect(**settings.warehouse.conninfo()) as conn:
        return conn.execute(query, params).fetchone()[0]


def _sensor(defs, name: str) -> dg.SensorDefinition:
    return defs.get_repository_def().get_sensor_def(name)


def _sensor_context(defs, instance, cursor=None):
    from orchestration.resources import LandingResource, NotifierResource, WarehouseResource

    return dg.build_sensor_context(
        instance=instance, cursor=cursor, repository_def=defs.get_repository_def(),
        resources={"landing": LandingResource(), "warehouse": WarehouseResource(), "notifier": NotifierResource()},
    )


def _run_quietly(job, instance, log_path: Path, **execute_kwargs):
    """A job run the way `terraminer demo` runs it: (result, terminal text, error or None)."""
    from terraminer.pipeline import JobRunFailed, run_dagster_job
    from terraminer.progress import Reporter

    terminal = io.StringIO()
    reporter = Reporter(terminal, live=False)
    try:
        with reporter.step("run") as step:
            result = run_dagster_job(job, instance=instance, reporter=reporter, step=step, log_path=log_path,
                                     **execute_kwargs)
        return result, terminal.getvalue(), None
    except JobRunFailed as failure:
        return failure.result, terminal.getvalue(), failure


@pytest.fixture(scope="module")
def first_run(defs, landing, pipeline_env, instance):
    """The landing sensor on the fresh landing zone, then the whole pipeline job as the demo runs it."""
    sensor = _sensor(defs, "landing_sensor")
    context = _sensor_context(defs, instance)
    request = sensor(context)
    cursor = context.cursor
    log_path = pipeline_env.home_dir / "first-run.log"
    result, terminal, _ = _run_quietly(defs.resolve_job_def("terraminer_pipeline"), instance, log_path)
    return request, cursor, result, terminal, log_path


def test_the_pipeline_run_prints_one_line_per_step_and_logs_everything(first_run):
    _request, _cursor, result, terminal, log_path = first_run
    assert result.success
    lines = terminal.splitlines()
    steps = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert len(lines) == len(steps) + 1  # a line per Dagster step, and the run's own
    for key in steps:
        assert any(line.strip().startswith(f"✓ {key} (") for line in lines), key
    assert any("terraminer_dbt" in line and "tests" in line for line in lines)
    assert any(line.strip().startswith("✓ ingest_recorder__sales") and "rows/s" in line for line in lines)
    log = log_path.read_text()
    assert "Done. PASS=" in log and "PASS=" not in terminal  # dbt's own log went to the file
    assert 'Started execution of step "ml__avm_model"' in log


def test_definitions_validate(pipeline_env, defs):
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=project_dir(), env=dict(os.environ), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_weekly_full_test_schedule_runs_every_test_over_every_row(defs):
    from orchestration.assets.dbt import DbtBuildConfig, _build_args
    from orchestration.jobs import FULL_TEST_RUN_CONFIG

    schedule = defs.resolve_schedule_def("weekly_full_test_schedule")
    daily = defs.resolve_schedule_def("daily_refresh_schedule")
    assert schedule.job_name == daily.job_name == "daily_refresh"
    assert schedule.cron_schedule == "0 6 * * 0" and daily.cron_schedule == "0 6 * * 1-6"  # never both
    dg.validate_run_config(defs.resolve_job_def("daily_refresh"), FULL_TEST_RUN_CONFIG)  # raises if invalid
    for op_config in FULL_TEST_RUN_CONFIG["ops"].values():
        args = _build_args(DbtBuildConfig(**op_config["config"]))
        assert json.loads(args[args.index("--vars") + 1]) == {"test_scope": "full"}
        assert "--full-refresh" not in args
        assert "--exclude-resource-type" not in args  # the weekly run includes the unit tests


def test_scheduled_builds_leave_unit_tests_to_ci():
    from orchestration.assets.dbt import DbtBuildConfig, _build_args

    args = _build_args(DbtBuildConfig())
    assert args[0] == "build" and args[args.index("--exclude-resource-type") + 1] == "unit_test"
    assert "--exclude-resource-type" not in _build_args(DbtBuildConfig(unit_tests=True))



def test_a_run_of_daily_partitions_re_derives_those_landing_days():
    """A partitioned run (one day or a single-run backfill's range) passes its days to dbt as the
    reprocess vars, validated like any run var; the config's own dbt_vars win; other runs pass none."""
    from orchestration.assets.dbt import DbtBuildConfig, _build_args, partition_days

    assert partition_days({"dagster/partition": "2024-03-06"}) == {
        "reprocess_landing_from": "2024-03-06", "reprocess_landing_to": "2024-03-06"}
    backfill = partition_days({"dagster/asset_partition_range_start": "2024-03-06",
                               "dagster/asset_partition_range_end": "2024-04-04"})
    assert backfill == {"reprocess_landing_from": "2024-03-06", "reprocess_landing_to": "2024-04-04"}
    for tags in ({}, {"dagster/partition": "north"}, {"dagster/partition": "2024-03-06'; drop table x"},
                 {"dagster/asset_partition_range_start": "2024-04-04", "dagster/asset_partition_range_end": "2024-03-06"}):
        assert partition_days(tags) == {}
    args = _build_args(DbtBuildConfig(), backfill)
    assert json.loads(args[args.index("--vars") + 1]) == backfill
    args = _build_args(DbtBuildConfig(dbt_vars="{reprocess_landing_to: 2024-03-07, test_scope: full}"), backfill)
    assert json.loads(args[args.index("--vars") + 1]) == {
        "reprocess_landing_from": "2024-03-06", "reprocess_landing_to": "2024-03-07", "test_scope": "full"}
    with pytest.raises(dg.Failure, match="reprocess_landing_to"):
        _build_args(DbtBuildConfig(dbt_vars="{reprocess_landing_to: 2024-01-01}"), backfill)
    assert "--vars" not in _build_args(DbtBuildConfig(), {})

def test_lineage_connects_every_raw_asset_to_the_valuation_mart(defs):
    graph = defs.resolve_asset_graph()
    raw_keys = [k for k in graph.get_all_asset_keys() if k.path[0] == RAW]
    assert len(raw_keys) >= 9  # one per ingestion contract

    def downstream(key):
        seen, todo = set(), [key]
        while todo:
            for child in graph.get(todo.pop()).child_keys:
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        return seen

    for key in raw_keys:
        reach = downstream(key)
        assert any(k.path[0] == "staging" for k in reach), key
        assert {FEATURES, AVM_MODEL, VALUATIONS, VALUATION_MART} <= reach, key
    # and in that order: features → model → valuations → mart
    assert AVM_MODEL in downstream(FEATURES)
    assert VALUATIONS in downstream(AVM_MODEL)
    assert VALUATION_MART in downstream(VALUATIONS)
    # the quality gate of the model is a blocking check
    spec = next(s for s in graph.get(AVM_MODEL).check_keys if s.name == "quality_gate")
    assert spec is not None


def test_the_whole_graph_materializes(first_run, pipeline_env, defs):
    request, _cursor, result, _terminal, _log = first_run
    assert result.success, [e.message for e in result.all_events if e.is_failure][:3]
    assert isinstance(request, dg.RunRequest)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    graph_keys = set(defs.resolve_asset_graph().get_all_asset_keys())
    assert graph_keys - materialized == set()
    checks = [e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert len(checks) > 100  # every dbt test is an asset check
    failed = [c.check_name for c in checks if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR]
    assert failed == []
    raw_sales = _scalar(pipeline_env, "select count(distinct document_number) from raw.recorder__sales")
    assert _scalar(pipeline_env, "select count(*) from marts.fct_sales where source_system = 'synthetic'") == raw_sales
    properties = _scalar(pipeline_env, "select count(*) from features.feat_avm_properties")
    assert properties > 0
    assert _scalar(pipeline_env, "select count(*) from ml.property_valuations") == properties
    assert _scalar(pipeline_env, "select count(*) from marts.mart_property_valuations") == properties
    # every valuation falls in one price band: the band mart adds up to the per-region mart
    assert _scalar(pipeline_env, "select sum(valuations_count) from marts.mart_avm_performance_by_price_band") \
        == _scalar(pipeline_env, "select sum(valuations_count) from marts.mart_avm_performance") == properties
    assert _scalar(pipeline_env, "select count(*) from marts.mart_avm_performance_by_price_band "
                                 "where price_band = 'no band'") == 0


def test_no_generated_secret_is_printed_logged_or_sent(first_run, pipeline_env, instance):
    """The stack's generated passwords and its personal-data key appear nowhere the run wrote:
    terminal, full log (dbt's and Dagster's), event metadata, the notification outbox (issue 15,
    item 6)."""
    from terraminer.credentials import read_passwords

    _request, _cursor, result, terminal, log_path = first_run
    secrets = [*read_passwords(pipeline_env.pg_passfile).values(), pipeline_env.pii_key().decode()]
    assert len(secrets) >= 6
    texts = {"terminal": terminal, "log": log_path.read_text(),
             "events": "\n".join(str(e) for e in result.all_events),
             "env": cli_env_text(pipeline_env)}
    outbox = pipeline_env.outbox_path
    if outbox.exists():
        texts["outbox"] = outbox.read_text()
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a generated secret appears in the {name}"


def cli_env_text(settings) -> str:
    proc = subprocess.run([sys.executable, "-m", "terraminer.cli", "env"], env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "PGPASSFILE" in proc.stdout and "PGPASSWORD" not in proc.stdout
    return proc.stdout + proc.stderr


def test_each_job_ran_as_its_role(first_run, pipeline_env):
    """After the whole graph (as after `make demo`): raw owned by the loader, every dbt relation by
    the transformer, the valuations by ml; bi reads marts only, the loader no marts, the
    transformer cannot write raw (issue 15, item 2)."""
    with psycopg.connect(**pipeline_env.warehouse.conninfo()) as conn:
        owners = dict(conn.execute(
            "select n.nspname || '.' || c.relname, pg_get_userbyid(c.relowner) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p', 'v', 'm') "
            "and n.nspname in ('raw', 'ingestion_meta', 'reference', 'staging', 'intermediate', 'snapshots', "
            "'marts', 'features', 'dbt_meta', 'ml')").fetchall())
    layer = {"raw": "terraminer_loader", "ingestion_meta": "terraminer_loader", "ml": "terraminer_ml"}
    assert owners["ml.property_valuations"] == "terraminer_ml"
    assert any(name.startswith("marts.") for name in owners) and any(name.startswith("raw.") for name in owners)
    wrong = {name: owner for name, owner in owners.items()
             if owner != layer.get(name.split(".")[0], "terraminer_transformer")}
    assert not wrong, wrong

    def attempt(role: str, statement: str) -> bool:
        with psycopg.connect(**pipeline_env.as_role(role).warehouse.conninfo(), autocommit=True) as conn:
            try:
                with conn.transaction(force_rollback=True):
                    conn.execute(statement)
                return True
            except psycopg.errors.InsufficientPrivilege:
                return False

    assert attempt("terraminer_bi", "select * from marts.fct_sales limit 1")
    for table in ("raw.recorder__sales", "staging.stg_recorder__sales", "ml.property_valuations",
                  "features.feat_avm_sales"):
        assert not attempt("terraminer_bi", f"select * from {table} limit 1"), table
    assert not attempt("terraminer_bi", "select buyer_name from raw.recorder__sales limit 1")
    assert not attempt("terraminer_loader", "select * from marts.fct_sales limit 1")
    assert not attempt("terraminer_transformer", "delete from raw.recorder__sales")
    assert not attempt("terraminer_transformer", "create table raw.t (id int)")


def _new_sales_file(landing, pipeline_env) -> tuple[str, list[str]]:
    """One more day of deeds for existing parcels, dated after every sale so far."""
    parcels = [row[0] for row in psycopg.connect(**pipeline_env.warehouse.conninfo()).execute(
        "select parcel_id from raw.assessor__parcels group by parcel_id order by parcel_id limit 7").fetchall()]
    last = _scalar(pipeline_env, "select max(sale_date) from raw.recorder__sales")
    day = last.fromordinal(last.toordinal() + 1)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["document_number", "parcel_id", "sale_date", "recording_date", "sale_price", "deed_type",
                     "buyer_name", "seller_name"])
    documents = [f"DNEW{day:%Y%m%d}{i:04d}" for i in range(len(parcels))]
    for document, parcel in zip(documents, parcels, strict=True):
        writer.writerow([document, parcel, day.isoformat(), day.isoformat(), 412000, "WD", "NEW OWNER", "OLD OWNER"])
    key = f"recorder/sales/{day:%Y/%m/%d}/sales_{day:%Y%m%d}_late.csv.gz"
    with landing.writer(key) as out:
        out.write(gzip.compress(text.getvalue().encode()))
    return key, documents


def test_landing_sensor_runs_new_files_through_to_fct_sales(first_run, defs, landing, pipeline_env, instance):
    request, cursor, result, _terminal, _log = first_run
    assert result.success
    sensor = _sensor(defs, "landing_sensor")
    quiet = sensor(_sensor_context(defs, instance, cursor))
    assert isinstance(quiet, dg.SkipReason)  # nothing new since the cursor

    key, documents = _new_sales_file(landing, pipeline_env)
    context = _sensor_context(defs, instance, cursor)
    request = sensor(context)
    assert isinstance(request, dg.RunRequest)
    selected = set(request.asset_selection)
    assert dg.AssetKey([RAW, "recorder__sales"]) in selected
    assert dg.AssetKey([RAW, "assessor__parcels"]) not in selected  # only what changed, and downstream
    assert dg.AssetKey(["marts", "fct_sales"]) in selected
    assert json.loads(context.cursor) != json.loads(cursor)

    run = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(selected), raise_on_error=False,
    )
    assert run.success, [e.message for e in run.all_events if e.is_failure][:3]
    found = _scalar(pipeline_env, "select count(*) from marts.fct_sales where file_key = %s", (key,))
    assert found == len(documents)
    assert _scalar(pipeline_env, "select count(*) from marts.fct_sales where source_sale_id = any(%s)",
                   (documents,)) == len(documents)
    # the same cursor state again: nothing to do
    assert isinstance(sensor(_sensor_context(defs, instance, context.cursor)), dg.SkipReason)


def test_failing_feature_test_blocks_training(first_run, defs, pipeline_env, instance):
    assert first_run[2].success
    versions_before = _scalar(pipeline_env, "select count(distinct model_version) from ml.property_valuations")
    # the feature table (with its dbt tests as blocking checks) and what depends on it: the same
    # dbt op and ML steps the pipeline job runs, without rebuilding the rest of the warehouse
    log_path = pipeline_env.home_dir / "failing-run.log"
    result, terminal, failure = _run_quietly(
        defs.resolve_implicit_global_asset_job_def(), instance, log_path,
        asset_selection=[FEATURES, AVM_MODEL, VALUATIONS],
        run_config={"ops": {"terraminer_dbt": {"config": {"dbt_vars": "{avm_min_training_rows: 1000000000}"}}}},
    )
    # what a user sees: the failed step, its last log lines, the log file and what to do next
    assert failure is not None and str(log_path) in str(failure) and "terraminer_dbt" in str(failure)
    assert "terraminer_dbt failed:" in terminal
    assert "row_count_at_least" in terminal  # the failing test is in the printed tail
    assert any(e.event_type_value == "STEP_START" and e.step_key == "terraminer_dbt" for e in result.all_events)
    assert not result.success
    failed_checks = [
        e.event_specific_data for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed
    ]
    assert any(c.asset_key == FEATURES and "row_count_at_least" in c.check_name for c in failed_checks)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert AVM_MODEL not in materialized and VALUATIONS not in materialized
    skipped = {e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"}
    not_run = {s for s in ("ml__avm_model", "ml__property_valuations")
               if s not in {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}}
    assert not_run == {"ml__avm_model", "ml__property_valuations"}, skipped
    assert _scalar(pipeline_env, "select count(distinct model_version) from ml.property_valuations") == versions_before


def test_alerts_sensor_sends_each_alert_once(first_run, defs, pipeline_env, instance):
    assert first_run[2].success
    sensor = _sensor(defs, "alerts_sensor")
    alerts = _scalar(pipeline_env, "select count(*) from marts.mart_alerts")
    assert alerts > 0
    context = _sensor_context(defs, instance)
    sensor(context)
    outbox = pipeline_env.outbox_path
    sent = [json.loads(line) for line in outbox.read_text().splitlines() if '"kind": "alert"' in line]
    assert len({m["alert_id"] for m in sent}) == alerts
    again = _sensor_context(defs, instance, context.cursor)
    sensor(again)
    sent_after = [line for line in outbox.read_text().splitlines() if '"kind": "alert"' in line]
    assert len(sent_after) == len(sent)
