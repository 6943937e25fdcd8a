"""The dbt project as Dagster sees it, and where its prepared manifest lives.

The manifest is prepared ahead of time (``make manifest``, which production images run at build
time, ``terraminer demo``, CI fixtures, or ``dagster dev`` via ``prepare_if_dev``). Loading the code
location reads it, and prepares it first when it is missing (a fresh clone's ``make ui``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dagster_dbt import DbtProject

from core.dbt import dbt_executable
from core.settings import project_dir

DBT_TARGET_PATH = Path("target") / "dagster"

dbt_project = DbtProject(project_dir=project_dir(), target_path=DBT_TARGET_PATH)
dbt_project.prepare_if_dev()


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
