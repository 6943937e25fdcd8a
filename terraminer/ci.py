"""CI tasks that need a live warehouse, each on its own throw-away embedded stack.

    python -m terraminer.ci sqlfluff   # sqlfluff lint, dbt templater on the live ci target
    python -m terraminer.ci dbt        # seed + build on ci over synthetic + real feeds, then the
                                       # offline Redshift parse/compile and the portability check
    python -m terraminer.ci redshift   # only the offline Redshift parse/compile + check

``make lint`` and ``make test`` call these; they print what they run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from core.settings import Settings, project_dir
from terraminer import pipeline
from terraminer.stack import temporary_stack

CI_SCALE = int(os.environ.get("TERRAMINER_CI_SCALE", "3"))


def _echo(message: str) -> None:
    print(message, flush=True)


def dbt(args: list[str], settings: Settings | None, target: str = "ci") -> None:
    """dbt with its output on the terminal (CI logs show every node)."""
    pipeline.dbt(settings, args, target=target, capture=False, log=_echo)


def prepare_warehouse(settings: Settings, scale: int = CI_SCALE) -> dict:
    """Roles, a synthetic landing zone plus every real feed present, all ingested."""
    from ingestion.landing import open_landing
    from ingestion.real_feeds import stage_real_feeds
    from ingestion.synthetic import generate

    landing = open_landing(settings.landing)
    summary = generate(landing, scale=scale, seed=7)
    real = stage_real_feeds(landing)
    print(f"landing: {len(summary.files)} synthetic files (scale {scale}), {len(real)} real files", flush=True)
    pipeline.prepare_warehouse(settings)
    totals = pipeline.ingest_landing(settings, landing, refuse_is_error=True).totals()
    print(f"ingested: {totals}", flush=True)
    return totals


def task_dbt() -> None:
    with temporary_stack() as settings:
        prepare_warehouse(settings)
        dbt(["seed"], settings)
        dbt(["build"], settings)
    task_redshift()


def task_redshift() -> None:
    from terraminer.redshift_check import check_compiled

    dbt(["parse"], None, target="redshift_ci")
    dbt(
        # with a landing day re-derived, so the incremental models' reprocess predicates compile too;
        # one thread: dbt writes a unit test's `given` inputs to one file per model name
        # (compiled/<yml>/<model>.sql), and two unit tests with the same input (int_market_day_totals
        # and fct_sales are each given to two) compiled at once interleaved that file (the check then
        # read SQL no model has); compiling needs no warehouse here, so threads gained nothing
        ["--no-populate-cache", "compile", "--threads", "1", "--vars",
         "{offline_compile: true, reprocess_landing_from: '2024-03-06', reprocess_landing_to: '2024-03-06'}"],
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
    import subprocess

    from core.dbt import dbt_env

    sqlfluff = Path(sys.executable).with_name("sqlfluff")
    command = [str(sqlfluff) if sqlfluff.exists() else "sqlfluff", "lint", "dbt_project/models",
               "dbt_project/snapshots", "--processes", "2"]
    with temporary_stack() as settings:
        _echo(f"+ {' '.join(command)}")
        if subprocess.run(command, cwd=project_dir(), env=dbt_env(settings, "ci")).returncode != 0:
            raise SystemExit("ci: sqlfluff found problems (see above)")


TASKS = {"dbt": task_dbt, "redshift": task_redshift, "sqlfluff": task_sqlfluff}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in TASKS:
        raise SystemExit(f"usage: python -m terraminer.ci {{{','.join(TASKS)}}}")
    from core.errors import TerraMinerError

    try:
        TASKS[sys.argv[1]]()
    except TerraMinerError as err:
        raise SystemExit(f"ci: {err}") from None
