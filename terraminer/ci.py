"""CI tasks that need a live warehouse, each on its own throw-away embedded stack.

    python -m terraminer.ci sqlfluff   # sqlfluff lint, dbt templater on the live ci target
    python -m terraminer.ci dbt        # seed + build on ci over synthetic + real feeds, then the
                                       # offline Redshift parse/compile and the portability check
    python -m terraminer.ci redshift   # only the offline Redshift parse/compile + check

``make lint`` and ``make test`` call these; they print what they run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from core.settings import Settings, project_dir

CI_SCALE = int(os.environ.get("TERRAMINER_CI_SCALE", "3"))


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@contextlib.contextmanager
def temp_stack(prefix: str = "tmci-") -> Iterator[Settings]:
    from terraminer.stack import LocalStack

    home = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    settings = Settings(env="ci", home=home)
    stack = LocalStack(settings)
    stack.up()
    try:
        yield settings
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def dbt_env(settings: Settings, target: str = "ci") -> dict[str, str]:
    env = dict(os.environ)
    env.update(settings.dbt_env())
    env["DBT_TARGET"] = target
    env["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    print(f"+ {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=project_dir(), env=env)
    if result.returncode != 0:
        raise SystemExit(f"ci: `{' '.join(cmd)}` failed (exit {result.returncode})")
    print(f"  ({time.perf_counter() - started:.1f} s)", flush=True)


def dbt(args: list[str], settings: Settings | None, target: str = "ci", extra_env: dict | None = None) -> None:
    env = dbt_env(settings, target) if settings is not None else dict(os.environ, DBT_TARGET=target)
    env.setdefault("DBT_PROFILES_DIR", str(project_dir()))
    env.update(extra_env or {})
    run([_bin("dbt"), *args, "--target", target], env)


def prepare_warehouse(settings: Settings, scale: int = CI_SCALE) -> dict:
    """Roles, a synthetic landing zone plus every real feed present, all ingested."""
    from core.warehouse import connect
    from ingestion.contract import load_contracts
    from ingestion.landing import open_landing
    from ingestion.real_feeds import stage_real_feeds
    from ingestion.runner import ingest
    from ingestion.synthetic import generate
    from ml.warehouse import ensure_ml_tables
    from terraminer import roles

    landing = open_landing(settings.landing)
    summary = generate(landing, scale=scale, seed=7)
    real = stage_real_feeds(landing)
    print(f"landing: {len(summary.files)} synthetic files (scale {scale}), {len(real)} real files", flush=True)
    with connect(settings) as conn:
        roles.apply_postgres(conn)
        ensure_ml_tables(conn)
        _, report = ingest(conn, load_contracts(), landing)
    totals = report.totals()
    print(f"ingested: {totals}", flush=True)
    if report.refused:
        raise SystemExit(f"ci: refused files: {[(r.file_key, r.error) for r in report.refused]}")
    return totals


def task_dbt() -> None:
    with temp_stack() as settings:
        prepare_warehouse(settings)
        dbt(["seed"], settings)
        dbt(["build"], settings)
    task_redshift()


def task_redshift() -> None:
    from terraminer.redshift_check import check_compiled

    dbt(["parse"], None, target="redshift_ci")
    dbt(
        ["--no-populate-cache", "compile", "--vars", "{offline_compile: true}"],
        None,
        target="redshift_ci",
    )
    target = Path(os.environ.get("DBT_TARGET_PATH") or project_dir() / "target")
    problems = check_compiled(target / "compiled")
    if problems:
        for problem in problems:
            print(f"redshift: {problem}", file=sys.stderr)
        raise SystemExit(f"ci: {len(problems)} Postgres-only construct(s) in compiled SQL")
    print("redshift: compiled SQL is portable", flush=True)


def task_sqlfluff() -> None:
    with temp_stack() as settings:
        env = dbt_env(settings)
        run([_bin("sqlfluff"), "lint", "dbt_project/models", "dbt_project/snapshots", "--processes", "2"], env)


TASKS = {"dbt": task_dbt, "redshift": task_redshift, "sqlfluff": task_sqlfluff}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in TASKS:
        raise SystemExit(f"usage: python -m terraminer.ci {{{','.join(TASKS)}}}")
    TASKS[sys.argv[1]]()
