"""Run-config dbt vars are validated (types and ranges) before dbt sees them (issue 15, item 3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from core.dbt_vars import PROJECT_CONSTANTS, validate_dbt_vars
from core.errors import TerraMinerError


def test_good_vars_pass():
    good = {"incremental_lookback_days": 60, "outlier_z_threshold": 3, "test_scope": "full",
            "feature_epoch": "2001-01-01", "alert_price_cut_threshold": 0.25}
    assert validate_dbt_vars(good) == good


@pytest.mark.parametrize("bad", [
    {"incremental_lookback_days": "30; drop table raw.x"},
    {"incremental_lookback_days": 1.5},
    {"incremental_lookback_days": -1},
    {"incremental_lookback_days": True},
    {"alert_price_cut_threshold": 2},
    {"test_scope": "everything'"},
    {"feature_epoch": "2000-01-01' or 1=1"},
    {"reprocess_landing_from": "2024-03-06'"},
    {"reprocess_landing_to": "2024-03-06"},
    {"reprocess_landing_from": "2024-03-07", "reprocess_landing_to": "2024-03-06"},
    {"offline_compile": True},
    {"pii_salt": "x"},
    {"unknown": 1},
    ["not", "a", "mapping"],
])
def test_bad_vars_are_refused(bad):
    with pytest.raises(TerraMinerError):
        validate_dbt_vars(bad)


def test_every_project_var_a_run_may_set_is_known():
    project = yaml.safe_load((Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())
    settable = {name: value for name, value in project["vars"].items()
                if not re.match("offline_", name) and name not in PROJECT_CONSTANTS}
    assert validate_dbt_vars(settable) == settable  # the defaults themselves are valid
    for name in PROJECT_CONSTANTS:  # declared in the project, refused from a run
        assert name in project["vars"]
        with pytest.raises(TerraMinerError):
            validate_dbt_vars({name: project["vars"][name]})


def test_dagster_build_args_validate_before_dbt():
    """The Dagster dbt assets' --vars come from validate_dbt_vars (importing the assets needs a
    prepared manifest; the e2e tests run them)."""
    source = (Path(__file__).resolve().parents[2] / "orchestration" / "assets" / "dbt.py").read_text()
    assert "parsed = validate_dbt_vars(parsed)" in source
    assert source.index("validate_dbt_vars(parsed)") < source.index('args += ["--vars"')


def test_reprocess_days_are_iso_dates_even_when_yaml_reads_dates():
    import datetime as dt

    assert validate_dbt_vars({"reprocess_landing_from": dt.date(2024, 3, 6), "reprocess_landing_to": "2024-03-08"}) == {
        "reprocess_landing_from": "2024-03-06", "reprocess_landing_to": "2024-03-08"}
