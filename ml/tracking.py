"""MLflow plumbing: tracking URI from settings, the experiment, runs found by tag (so a retried
Dagster run reuses its MLflow run), the registered model and its ``champion`` alias."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from core.settings import Settings

EXPERIMENT = "terraminer_avm"
MODEL_NAME = "terraminer_avm"
CHAMPION = "champion"
RUN_TAG = "terraminer.run_key"
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def configure(settings: Settings):
    """Point MLflow at the settings' tracking store; returns an ``MlflowClient``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    uri = settings.mlflow_uri
    if uri.startswith("sqlite:///"):
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    # mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI so subprocesses inherit it; in a
    # long-lived process (Dagster, pytest) that leaked value would then override the settings of
    # every later Settings object (another TERRAMINER_HOME, another environment). Keep the process
    # environment as the user set it: MLflow's own global and the client carry the URI.
    saved = {name: os.environ.get(name) for name in _URI_VARIABLES}
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(settings: Settings, client, name: str = EXPERIMENT) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.mlflow_artifact_root if settings.mlflow_uri.startswith("sqlite:") else None
    try:
        return client.create_experiment(name, artifact_location=location)
    except Exception:  # created concurrently
        return client.get_experiment_by_name(name).experiment_id


def find_run(client, experiment: str, run_key: str):
    """The run tagged with ``run_key`` (a Dagster run id, for example), or None."""
    runs = client.search_runs([experiment], filter_string=f"tags.`{RUN_TAG}` = '{_escape(run_key)}'",
                              max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0] if runs else None


@contextlib.contextmanager
def run_for(settings: Settings, client, run_key: str | None, run_name: str,
            experiment: str = EXPERIMENT) -> Iterator[tuple[object, bool]]:
    """Start (or resume, when a run with the same key exists) an MLflow run.

    Yields ``(run, resumed)``; ``resumed`` is True when an earlier attempt's run was found.
    """
    import mlflow

    exp_id = experiment_id(settings, client, experiment)
    existing = find_run(client, exp_id, run_key) if run_key else None
    if existing is not None:
        with mlflow.start_run(run_id=existing.info.run_id) as run:
            yield run, True
        return
    tags = {RUN_TAG: run_key} if run_key else {}
    with mlflow.start_run(experiment_id=exp_id, run_name=run_name, tags=tags) as run:
        yield run, False


def champion_version(client, name: str = MODEL_NAME):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _escape(value: str) -> str:
    return value.replace("'", "\\'")
