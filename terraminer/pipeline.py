"""The pipeline's steps, one function each, in the order they run:

    start_stack → prepare_warehouse (roles, ML tables) → ingest_landing → dbt → train → score

Each step connects as its role (docs/ARCHITECTURE.md §9): prepare as the admin, ingestion as
``terraminer_loader``, dbt as ``terraminer_transformer`` (``DBT_PGUSER``), training and scoring as
``terraminer_ml``.

or all of them after the first two as one Dagster job (:func:`run_dagster_job`). ``terraminer
demo``, the CI tasks (``terraminer.ci``), the AVM evaluation (``terraminer avm evaluate``) and the
benchmarks call these instead of writing the sequence again. None prints on its own: callers pass
``log`` or a :class:`~terraminer.progress.Reporter`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.dbt import run_dbt
from core.errors import TerraMinerError
from core.settings import Settings
from core.warehouse import connect

Log = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def start_stack(settings: Settings) -> str:
    """Start the embedded warehouse (idempotent); a no-op message for external warehouses."""
    if not settings.embedded:
        return f"external warehouse ({settings.env})"
    from terraminer.stack import LocalStack

    return LocalStack(settings).up().message


def prepare_warehouse(settings: Settings) -> list[str]:
    """As the admin: the least-privilege roles, their schemas and grants, and the ML tables dbt
    reads as sources. Idempotent. Returns what ``terraminer roles`` prints."""
    from ml.warehouse import ensure_ml_tables
    from terraminer import roles

    with connect(settings.as_role(None)) as conn:
        applied = roles.apply_postgres(conn)
        roles.install_pii_key(conn, settings.pii_key())
    with connect(settings.as_role(roles.ML)) as conn:  # the scorer's table belongs to its role
        ensure_ml_tables(conn)
    return applied


def ingest_landing(settings: Settings, landing, *, contracts: Sequence[str] | None = None,
                   refuse_is_error: bool = False, **callbacks: Any):
    """Load every pending file of ``landing`` (all contracts, or the named ones). Returns the
    runner's report; ``refuse_is_error`` turns a refused file into an error (CI, evaluations)."""
    from ingestion.contract import load_contracts
    from ingestion.runner import ingest
    from ingestion.writers import open_writer
    from terraminer.roles import LOADER

    writer = open_writer(settings.as_role(LOADER), landing)
    try:
        _, report = ingest(writer, load_contracts(names=contracts), landing, **callbacks)
    finally:
        writer.close()
    if refuse_is_error and report.refused:
        raise TerraMinerError("refused files: " + "; ".join(f"{r.file_key}: {r.error}" for r in report.refused))
    return report


def dbt(settings: Settings | None, args: Sequence[str], *, target: str | None = None,
        capture: bool = True, log: Log | None = None, **env: str):
    """``dbt ARGS`` against the settings' warehouse (see :func:`core.dbt.run_dbt`)."""
    return run_dbt(args, settings, target=target, env=env, capture=capture, echo=log)


def train(settings: Settings, dataset: str, *, test_start=None, register: bool = True,
          experiment: str | None = None, log: Log = _quiet):
    """Train on ``dataset``'s feature rows; log to MLflow; register and promote when it wins."""
    from ml.features import load_sales
    from ml.train import train as train_model
    from terraminer.roles import ML

    settings = settings.as_role(ML)
    with connect(settings) as conn:
        frame = load_sales(conn, dataset)
    return train_model(settings, frame, dataset=dataset, test_start=test_start, register=register,
                       experiment=experiment, log=log)


def score(settings: Settings, dataset: str | None = None, *, log: Log = _quiet) -> dict:
    """Value every property of ``dataset`` (None: of every market that has a champion) with that
    market's own champion into ``ml.property_valuations``."""
    from ml.score import score as score_properties
    from ml.score import score_all
    from terraminer.roles import ML

    settings = settings.as_role(ML)
    with connect(settings) as conn:
        if dataset:
            result = score_properties(settings, conn, dataset=dataset, log=log)
        else:
            result = score_all(settings, conn, log=log)
        conn.commit()
    return result


class JobRunFailed(TerraMinerError):
    """A Dagster run failed; ``result`` is its ``ExecuteInProcessResult``."""

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


def run_dagster_job(job, *, instance, reporter, step, log_path: Path, verbose: bool = False, **execute_kwargs):
    """Execute a Dagster job in-process: one terminal line per Dagster step (through ``reporter``,
    live detail on ``step``), every event and library output in ``log_path`` (also on the terminal
    with ``verbose``). On failure, prints each failed step's last log lines and raises
    :class:`JobRunFailed` naming the log file and what to do next."""
    import mlflow  # noqa: F401  (configures its loggers now, so library_output_to routes them)

    from terraminer.progress import DagsterRunWatcher, library_output_to

    run_id = str(uuid.uuid4())
    run_config = dict(execute_kwargs.pop("run_config", None) or {})
    run_config["loggers"] = {"console": {"config": {"log_level": "INFO" if verbose else "CRITICAL"}}}
    with open(log_path, "a", encoding="utf-8") as log_file:
        quiet = contextlib.nullcontext() if verbose else library_output_to(log_file)
        with quiet, DagsterRunWatcher(instance, run_id, reporter, step, log_file) as watcher:
            result = job.execute_in_process(instance=instance, raise_on_error=False, run_id=run_id,
                                            run_config=run_config, **execute_kwargs)
    if result.success:
        step.result = f"run {run_id[:8]}"
        return result
    for key, error in watcher.failed_steps or [(None, "")]:
        reporter.line(f"{key or 'the run'} failed: {error}")
        for line in watcher.tail(key):
            reporter.line(f"    {line}")
    failed = ", ".join(key for key, _ in watcher.failed_steps) or "a step"
    raise JobRunFailed(
        f"Dagster run {run_id} failed in {failed}. Full log: {log_path}. Next: fix what it names and run "
        "again (finished work is kept), or open `make ui` → Runs", result)
