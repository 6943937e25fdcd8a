"""The dbt project as Dagster sees it, and where its prepared manifest lives.

The manifest is prepared ahead of time (``make manifest``, ``terraminer demo``, CI fixtures, or
``dagster dev`` via ``prepare_if_dev``); loading the code location only reads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster_dbt import DbtProject

from core.settings import project_dir

DBT_TARGET_PATH = Path("target") / "dagster"

dbt_project = DbtProject(project_dir=project_dir(), target_path=DBT_TARGET_PATH)
dbt_project.prepare_if_dev()


def dbt_executable() -> str:
    """dbt from this interpreter's environment (the venv need not be on PATH; Dagster's code
    servers may run under the resolved base interpreter, so sys.prefix is tried too)."""
    import shutil

    for candidate in (Path(sys.executable).parent / "dbt", Path(sys.prefix) / "bin" / "dbt",
                      project_dir() / ".venv" / "bin" / "dbt"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def prepare_manifest() -> Path:
    """``dbt parse`` into the Dagster target path (what dagster-dbt's prepare step does)."""
    import fcntl

    env = dict(os.environ)
    env.setdefault("DBT_PROFILES_DIR", str(project_dir()))
    target = project_dir() / DBT_TARGET_PATH
    target.mkdir(parents=True, exist_ok=True)
    # One parse at a time per checkout: concurrent parses into one target path corrupt it.
    with open(target.parent / ".dagster-manifest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run(
            [dbt_executable(), "parse", "--quiet", "--target-path", str(DBT_TARGET_PATH)],
            cwd=project_dir(), env=env, capture_output=True, text=True,
        )
    if result.returncode != 0:
        from core.errors import TerraMinerError

        detail = (result.stdout + result.stderr).strip().splitlines()
        raise TerraMinerError(f"dbt parse failed: {detail[-1] if detail else 'no output'}; run `dbt parse` to see why")
    return dbt_project.manifest_path
