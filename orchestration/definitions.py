"""TerraMiner's Dagster code location: ``orchestration.definitions:defs``.

Loading it reads the prepared dbt manifest and nothing else (no connections, no dbt parse).
"""

from __future__ import annotations

import json

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.project import dbt_executable, dbt_project
from terraminer.errors import TerraMinerError

if not dbt_project.manifest_path.exists():
    raise TerraMinerError(
        f"dbt manifest not found at {dbt_project.manifest_path}: run `make manifest` (dbt parse into that folder)"
    )

from orchestration.assets.dbt import terraminer_dbt, terraminer_dbt_valuations  # noqa: E402
from orchestration.assets.ingestion import build_ingestion_asset, raw_contracts  # noqa: E402
from orchestration.resources import LandingResource, NotifierResource, WarehouseResource  # noqa: E402

_manifest = json.loads(dbt_project.manifest_path.read_text())
ingestion_assets = [build_ingestion_asset(name) for name in raw_contracts(_manifest)]

pipeline_job = dg.define_asset_job(
    "terraminer_pipeline",
    selection=dg.AssetSelection.all(),
    description="Everything: landing files → raw → dbt (with tests) → features → AVM → valuations → marts.",
)

defs = dg.Definitions(
    assets=[*ingestion_assets, terraminer_dbt, terraminer_dbt_valuations],
    jobs=[pipeline_job],
    resources={
        "warehouse": WarehouseResource(),
        "landing": LandingResource(),
        "notifier": NotifierResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable()),
    },
)
