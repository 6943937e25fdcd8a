"""The dbt resource skips two dagster-dbt start-up costs TerraMiner has no use for (issue 19: each
streaming run paid them on every event). Both are dagster-dbt internals: these tests fail when an
upgrade renames them, so the overrides never silently stop applying."""

from __future__ import annotations

from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version

from orchestration.resources import TerraMinerDbtCliResource


def test_the_overridden_internals_still_exist_in_dagster_dbt():
    assert callable(DbtCliResource._initialize_dbt_core_adapter)
    assert "_cli_version" in vars(DbtCliResource)


def test_no_dbt_version_subprocess_and_no_in_process_adapter(tmp_path, monkeypatch):
    (tmp_path / "dbt_project.yml").write_text("name: x\nversion: '1'\nprofile: x\n")
    from core.dbt import dbt_executable

    resource = TerraMinerDbtCliResource(project_dir=str(tmp_path), dbt_executable=dbt_executable())

    def no_subprocess(*_args, **_kwargs):
        raise AssertionError("dbt --version must not run")

    monkeypatch.setattr("subprocess.check_output", no_subprocess)
    assert resource._cli_version == version.parse(installed_version("dbt-core"))
    assert resource._cli_version.major < 2  # dbt Core, not Fusion: dagster-dbt's Core code paths apply
    assert resource._initialize_dbt_core_adapter(["build"]) is None
