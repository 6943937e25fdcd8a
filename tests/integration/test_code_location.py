"""A fresh clone's ``make ui`` / ``dagster dev``: the code location loads without a prepared dbt
manifest (it prepares it, as dagster-dbt's ``prepare_if_dev`` does), before any demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core.settings import project_dir

DBT_FILES = ["dbt_project.yml", "profiles.yml", "dbt_project", "macros", "seeds"]


def test_code_location_loads_on_a_checkout_without_a_manifest():
    with tempfile.TemporaryDirectory(prefix="tmcl-") as tmp:
        checkout = Path(tmp)
        for name in DBT_FILES:
            source = project_dir() / name
            if source.is_dir():
                shutil.copytree(source, checkout / name)
            else:
                shutil.copy2(source, checkout / name)
        manifest = checkout / "target" / "dagster" / "manifest.json"
        assert not manifest.exists()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "DAGSTER_"))}
        env.update(TERRAMINER_PROJECT_DIR=str(checkout), TERRAMINER_HOME=str(checkout / ".terraminer"))
        code = ("from orchestration.definitions import defs; "
                "print(len(defs.resolve_asset_graph().get_all_asset_keys()))")
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                cwd=checkout)
        assert result.returncode == 0, result.stderr[-3000:]
        assert manifest.exists()
        assert int(result.stdout.strip().splitlines()[-1]) > 50  # raw feeds, dbt models, ML assets
