import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import TerraMinerError
from core.settings import Settings


def test_local_defaults_resolve_under_home(tmp_path):
    s = Settings(home=tmp_path)
    assert s.env == "local"
    assert s.landing == str(tmp_path / "landing")
    assert s.target == "local"
    assert s.mlflow_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    wh = s.warehouse
    assert wh.embedded and wh.kind == "postgres" and wh.host == str(tmp_path / "pg")
    assert wh.libpq_env()["PGDATABASE"] == "terraminer"


def test_env_variables_select_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TERRAMINER_ENV", "dev")
    monkeypatch.setenv("TERRAMINER_LANDING_URI", "s3://bucket/landing")
    monkeypatch.setenv("PGHOST", "db.example.internal")
    monkeypatch.setenv("PGUSER", "analyst")
    monkeypatch.delenv("DBT_TARGET", raising=False)
    s = Settings()
    assert s.target == "dev"
    assert s.landing == "s3://bucket/landing"
    assert s.warehouse.host == "db.example.internal" and not s.warehouse.embedded


def test_missing_external_settings_name_the_variable(monkeypatch):
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("TERRAMINER_LANDING_URI", raising=False)
    s = Settings(env="staging")
    with pytest.raises(TerraMinerError, match="PGHOST"):
        _ = s.warehouse
    with pytest.raises(TerraMinerError, match="TERRAMINER_LANDING_URI"):
        _ = s.landing


def test_prod_is_redshift(monkeypatch):
    monkeypatch.setenv("REDSHIFT_HOST", "cluster.abc.us-east-1.redshift.amazonaws.com")
    monkeypatch.setenv("REDSHIFT_USER", "terraminer_admin")
    wh = Settings(env="prod").warehouse
    assert wh.kind == "redshift" and wh.port == 5439


def test_long_home_gets_short_socket_dir(tmp_path):
    deep = tmp_path / ("x" * 90)
    s = Settings(home=deep)
    assert len(str(s.pg_socket_dir / ".s.PGSQL.5432")) <= 100
    assert str(s.pg_socket_dir).startswith("/tmp/terraminer-")


def test_import_has_no_side_effects(tmp_path):
    """Importing settings, the CLI and the loader must not connect, parse or scan."""
    code = (
        "import sys; import core.settings, terraminer.cli, ingestion.writers.postgres, ingestion.runner; "
        "assert 'dbt' not in sys.modules and 'dagster' not in sys.modules, sorted(m for m in sys.modules if m.startswith(('dbt','dagster')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
