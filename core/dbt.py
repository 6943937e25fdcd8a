"""The one way TerraMiner finds and runs dbt.

The CLI, the demo, CI tasks, the AVM evaluation, the benchmarks and Dagster's ``DbtCliResource``
all use :func:`dbt_executable`; everything that runs dbt as a subprocess goes through
:func:`run_dbt`, which builds the environment ``profiles.yml`` reads from the settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.errors import TerraMinerError
from core.settings import Settings, project_dir


def dbt_executable() -> str:
    """dbt from this interpreter's environment: the venv need not be on ``PATH`` (Dagster's code
    servers may run under the resolved base interpreter, so ``sys.prefix`` and the project's
    ``.venv`` are tried too)."""
    for candidate in (Path(sys.executable).parent / "dbt", Path(sys.prefix) / "bin" / "dbt",
                      project_dir() / ".venv" / "bin" / "dbt"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("dbt") or "dbt"


def dbt_env(settings: Settings | None, target: str | None = None, **extra: str) -> dict[str, str]:
    """This process's environment plus what ``profiles.yml`` reads for ``settings`` (the embedded
    warehouse's socket, the target) and dbt's own switches."""
    env = dict(os.environ)
    if settings is not None:
        env.update(settings.dbt_env())
    env.setdefault("DBT_PROFILES_DIR", str(project_dir()))
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if target:
        env["DBT_TARGET"] = target
    env.update(extra)
    return env


def run_dbt(args: Sequence[str], settings: Settings | None, *, target: str | None = None,
            env: dict[str, str] | None = None, capture: bool = False,
            echo: Callable[[str], None] | None = None) -> subprocess.CompletedProcess:
    """Run ``dbt ARGS`` in the project folder; raise :class:`TerraMinerError` with the output's
    tail when it fails.

    ``capture`` keeps dbt's output out of the terminal (it is in the error on failure);
    ``echo`` receives the command line before and the seconds after.
    """
    command = [dbt_executable(), *args]
    if target:
        command += ["--target", target]
    full_env = dbt_env(settings, target)
    if settings is not None:  # an external warehouse's password: the subprocess's environment only
        full_env.update(settings.warehouse.secret_env())
        full_env.update(settings.dbt_secret_env())
    full_env.update(env or {})
    if echo:
        echo(f"+ dbt {' '.join(command[1:])}")
    started = time.perf_counter()
    result = subprocess.run(command, cwd=project_dir(), env=full_env, capture_output=capture, text=True)
    if result.returncode != 0:
        tail = ""
        if capture:
            tail = "\n" + "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise TerraMinerError(f"`dbt {' '.join(command[1:])}` failed (exit {result.returncode}){tail}")
    if echo:
        echo(f"  ({time.perf_counter() - started:.1f} s)")
    return result
