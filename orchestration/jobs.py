"""Jobs and schedules: the whole pipeline, a daily refresh, a weekly retrain."""

import dagster as dg

AVM_MODEL = dg.AssetKey(["ml", "avm_model"])

pipeline_job = dg.define_asset_job(
    "terraminer_pipeline",
    selection=dg.AssetSelection.all(),
    description="Everything: landing files → raw → dbt (with tests) → features → AVM → valuations → marts.",
)

daily_refresh_job = dg.define_asset_job(
    "daily_refresh",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(AVM_MODEL),
    description="Ingest, rebuild dbt (incremental facts), re-score with the current champion.",
)

weekly_retrain_job = dg.define_asset_job(
    "weekly_retrain",
    selection=dg.AssetSelection.assets(AVM_MODEL).downstream(),
    description="Retrain the AVM on the latest features; promote only if it beats the champion; re-score.",
)

daily_refresh_schedule = dg.ScheduleDefinition(
    name="daily_refresh_schedule",
    job=daily_refresh_job,
    cron_schedule="0 6 * * 1-6",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

# Sundays: the daily refresh with every dbt test over every row (test_scope: full), not only the
# rows loaded since each test last passed (macros/test_scope/test_scope.sql), and the dbt unit
# tests (which the daily builds leave to CI).
FULL_TEST_RUN_CONFIG = {
    "ops": {
        op_name: {"config": {"dbt_vars": "{test_scope: full}", "unit_tests": True}}
        for op_name in ("terraminer_dbt", "terraminer_dbt_valuations")
    }
}

weekly_full_test_schedule = dg.ScheduleDefinition(
    name="weekly_full_test_schedule",
    job=daily_refresh_job,
    cron_schedule="0 6 * * 0",
    execution_timezone="UTC",
    run_config=FULL_TEST_RUN_CONFIG,
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

weekly_retrain_schedule = dg.ScheduleDefinition(
    name="weekly_retrain_schedule",
    job=weekly_retrain_job,
    cron_schedule="0 3 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
