"""TerraMiner's Dagster code location: ``orchestration.definitions:defs``.

Loading it reads the prepared dbt manifest and nothing else (no connections). On a fresh clone the
manifest is prepared first (one ``dbt parse``, as dagster-dbt's ``prepare_if_dev`` does), so
``make ui`` works before any demo.
"""

import json

import dagster as dg

from core.dbt import dbt_executable
from orchestration.project import dbt_project, prepare_manifest

if not dbt_project.manifest_path.exists():
    prepare_manifest()

from orchestration.assets.api import api_data_version  # noqa: E402
from orchestration.assets.dbt import terraminer_dbt, terraminer_dbt_valuations  # noqa: E402
from orchestration.assets.ingestion import build_ingestion_asset, daily_contracts, raw_contracts  # noqa: E402
from orchestration.assets.ml import avm_model, property_valuations  # noqa: E402
from orchestration.events import (  # noqa: E402
    LandingEventsResource,
    build_landing_events_job,
    build_landing_events_sensor,
)
from orchestration.freshness import build_freshness_checks, build_freshness_job_and_schedule  # noqa: E402
from orchestration.jobs import (  # noqa: E402
    daily_refresh_job,
    daily_refresh_schedule,
    pipeline_job,
    weekly_full_test_schedule,
    weekly_retrain_job,
    weekly_retrain_schedule,
)
from orchestration.resources import (  # noqa: E402
    LandingResource,
    NotifierResource,
    TerraMinerDbtCliResource,
    WarehouseResource,
)
from orchestration.sensors import alerts_sensor, build_landing_sensor, run_failure_notifier  # noqa: E402

_contracts = raw_contracts(json.loads(dbt_project.manifest_path.read_text()))
_daily = daily_contracts(_contracts)
_freshness = build_freshness_checks(_contracts)
_freshness_job, _freshness_schedule = build_freshness_job_and_schedule(_freshness)
_events_job = build_landing_events_job(_contracts)

defs = dg.Definitions(
    assets=[
        *(build_ingestion_asset(name, daily=name in _daily) for name in _contracts),
        terraminer_dbt,
        avm_model,
        property_valuations,
        terraminer_dbt_valuations,
        api_data_version,
    ],
    asset_checks=[_freshness],
    jobs=[pipeline_job, daily_refresh_job, weekly_retrain_job, _freshness_job, _events_job],
    schedules=[daily_refresh_schedule, weekly_full_test_schedule, weekly_retrain_schedule, _freshness_schedule],
    sensors=[build_landing_sensor(_contracts), build_landing_events_sensor(_contracts, _events_job), alerts_sensor, run_failure_notifier],
    resources={
        "warehouse": WarehouseResource(),
        "landing": LandingResource(),
        "landing_events": LandingEventsResource(),
        "notifier": NotifierResource(),
        "dbt": TerraMinerDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
