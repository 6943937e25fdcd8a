"""dbt models as Dagster assets (dagster-dbt). ``dbt build`` runs models, snapshots, seeds and tests
together, so every dbt test is an asset check, and an error-severity failure fails the step:
assets downstream of it (the AVM training) do not run.

Two definitions keep the graph acyclic across the ML round trip: ``terraminer_dbt`` (everything
that does not read ML output) and ``terraminer_dbt_valuations`` (models downstream of the source
``ml.property_valuations``, which the ML scoring asset writes).
"""


import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.project import DBT_TARGET_PATH, dbt_project
from orchestration.retries import retry_transient

ML_DOWNSTREAM = "source:ml+"


class TerraMinerTranslator(DagsterDbtTranslator):
    """Groups by dbt layer folder (staging, intermediate, marts, features, snapshots, seeds)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        kind = dbt_resource_props.get("resource_type")
        if kind in ("snapshot", "seed"):
            return f"{kind}s"
        fqn = dbt_resource_props.get("fqn") or []
        return fqn[1] if len(fqn) > 2 else "dbt"


TRANSLATOR = TerraMinerTranslator(settings=DagsterDbtTranslatorSettings(
    enable_asset_checks=True, enable_duplicate_source_asset_keys=True,
))


class DbtBuildConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models and snapshots from scratch (dbt --full-refresh)."""
    dbt_vars: str = ""
    """dbt project variables for this run, a YAML/JSON mapping passed as dbt --vars
    (e.g. '{incremental_lookback_days: 60}')."""
    indirect_selection: str = ""
    """dbt --indirect-selection for the tests of the selected models: 'cautious' runs only the
    tests whose every parent is selected (streaming runs: a relationships test from a model the
    run does not rebuild waits for the build that does)."""
    unit_tests: bool = False
    """Also run the dbt unit tests. They check model code against fixed fixtures, never the
    warehouse's data, so their verdict changes only with the code: CI runs every one of them
    (`make test`, on the ci target) and scheduled builds leave them out, as dbt's documentation
    advises; the weekly full-test run turns them on."""


PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def partition_days(tags: Mapping[str, str]) -> dict[str, str]:
    """The landing days a run of the daily feeds' partitions covers (one day, or a single-run
    backfill's range), as the dbt vars that make the sales path re-derive the rows of the files
    landed on them (macros/incremental/reprocess.sql); {} for a run without daily partitions."""
    first, last = (tags.get(RANGE_TAGS[0]), tags.get(RANGE_TAGS[1])) if tags.get(RANGE_TAGS[0]) else (
        tags.get(PARTITION_TAG), tags.get(PARTITION_TAG))
    try:
        if dt.date.fromisoformat(first) > dt.date.fromisoformat(last):
            return {}
    except (TypeError, ValueError):  # no partition, or not a day
        return {}
    return {"reprocess_landing_from": first, "reprocess_landing_to": last}


def _build_args(config: DbtBuildConfig, run_vars: Mapping[str, str] | None = None) -> list[str]:
    """dbt's arguments; ``run_vars`` (the run's partition days) under the config's own dbt_vars."""
    args = ["build"]
    if config.full_refresh:
        args.append("--full-refresh")
    if config.indirect_selection:
        args += ["--indirect-selection", config.indirect_selection]
    if not config.unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    if config.dbt_vars.strip() or run_vars:
        import yaml

        try:
            parsed = yaml.safe_load(config.dbt_vars) if config.dbt_vars.strip() else {}
        except yaml.YAMLError as error:
            raise dg.Failure(f"dbt_vars is not valid YAML ({error}): pass a mapping like '{{name: value}}'") from error
        if not isinstance(parsed, dict):
            raise dg.Failure(f"dbt_vars must be a mapping like '{{name: value}}', got {config.dbt_vars!r}")
        parsed = {**(run_vars or {}), **parsed}
        from core.dbt_vars import validate_dbt_vars
        from core.errors import TerraMinerError

        try:
            parsed = validate_dbt_vars(parsed)  # types and ranges, before dbt sees them (issue 15)
        except TerraMinerError as error:
            raise dg.Failure(str(error)) from None
        args += ["--vars", json.dumps(parsed)]
    return args


PARTIAL_PARSE = "partial_parse.msgpack"


def _seed_path() -> Path:
    return Path(dbt_project.project_dir) / DBT_TARGET_PATH / PARTIAL_PARSE


def invocation_target_path(context: dg.AssetExecutionContext) -> Path:
    """A fresh dbt target folder for this invocation (dagster-dbt keeps one per invocation), seeded
    with ``target/dagster/partial_parse.msgpack``: written by the ``dbt parse`` that prepared the
    manifest the code location loaded, then by each dbt step (:func:`keep_partial_parse`).

    dagster-dbt seeds it from ``target/`` only, where a production image has none and a local
    ``dbt build --vars …`` leaves one dbt cannot reuse (other vars): dbt then parsed the whole
    project (50 models, 420 tests) in every streaming run, 30-50 s on 2 cores. dbt still checks the
    seed (project files, vars, target, profile and its connection values) and reparses whatever
    changed; one full parse in a new environment, partial parses after it."""
    name = f"{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    path = Path(dbt_project.project_dir) / DBT_TARGET_PATH.parent / name
    if _seed_path().exists():
        path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_seed_path(), path / PARTIAL_PARSE)
    return path


def keep_partial_parse(target_path: Path) -> None:
    """The invocation's partial parse becomes the next invocation's seed (atomic replace: a dbt step
    or ``dbt parse`` reading it meanwhile sees the old file or the new one). The manifest was
    prepared where the warehouse's connection values may differ (an image build): dbt's check
    refuses that seed once, this one fits every later run of the same environment."""
    produced = target_path / PARTIAL_PARSE
    if not produced.exists():
        return
    seed = _seed_path()
    seed.parent.mkdir(parents=True, exist_ok=True)
    scratch = seed.with_name(f".{PARTIAL_PARSE}.{uuid.uuid4().hex[:8]}")
    shutil.copyfile(produced, scratch)
    os.replace(scratch, seed)


def _dbt_build(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    target_path = invocation_target_path(context)
    days = partition_days(context.run.tags)
    if days:
        context.log.info(f"re-deriving the sales of the files landed {days['reprocess_landing_from']} to "
                         f"{days['reprocess_landing_to']} (the run's partitions)")
    args = _build_args(config, days)
    try:
        with retry_transient(context, "dbt build"):
            yield from dbt.cli(args, context=context, target_path=target_path).stream()
    finally:
        if "--vars" not in args:  # other --vars: a seed the next (plain) run could not use
            keep_partial_parse(target_path)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    exclude=ML_DOWNSTREAM,
    dagster_dbt_translator=TRANSLATOR,
    name="terraminer_dbt",
)
def terraminer_dbt(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    yield from _dbt_build(context, dbt, config)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    select=ML_DOWNSTREAM,
    dagster_dbt_translator=TRANSLATOR,
    name="terraminer_dbt_valuations",
)
def terraminer_dbt_valuations(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    yield from _dbt_build(context, dbt, config)
