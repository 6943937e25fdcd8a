"""MLflow plumbing: tracking URI from settings, the experiment, runs found by tag (so a retried
Dagster run reuses its MLflow run), the registered model and its aliases, and verified loading.

One registered model, ``terraminer_avm``; each market (source_system) has its own aliases,
``champion-<market>`` and ``challenger-<market>``, so training one market never moves another's
champion. The default market (``TERRAMINER_AVM_DATASET``) also carries the plain ``champion`` /
``challenger`` aliases (what ``models:/terraminer_avm@champion`` serves).

Safe loading: the model is stored by the sklearn flavour with skops and an explicit list of
trusted types (no pickle), and each registered version carries the SHA-256 of its artifact files
(tag ``artifact_sha256``, recorded when it is registered, before it can be promoted). Every load
(:func:`load_verified`) downloads the files, checks the digest and loads those same bytes; a
tampered or replaced artifact is refused before anything is deserialized."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from core.settings import Settings

EXPERIMENT = "terraminer_avm"
MODEL_NAME = "terraminer_avm"
CHAMPION = "champion"
CHALLENGER = "challenger"
DIGEST_TAG = "artifact_sha256"
MARKET_TAG = "market"
# What skops may rebuild when it loads the model: our estimator, the fitted trees of
# HistGradientBoosting and the two callables its fitted state holds. Nothing else (no pickle).
SKOPS_TRUSTED_TYPES = [
    "ml.model.AVMModel",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
]
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


def alias(kind: str, market: str) -> str:
    """``champion-<market>`` / ``challenger-<market>`` (alias names allow letters, digits, _ and -)."""
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_-]', '_', market)}"


def aliases_for(kind: str, market: str, default_market: str | None) -> list[str]:
    """The aliases a market's champion (or challenger) carries: its own, plus the plain one for the
    default market."""
    names = [alias(kind, market)]
    if default_market is not None and market == default_market:
        names.append(kind)
    return names


def version_by_alias(client, alias_name: str, name: str = MODEL_NAME):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias_name)
    except MlflowException:
        return None


def champion_version(client, market: str | None = None, name: str = MODEL_NAME):
    """The champion of ``market`` (None: the plain ``champion`` alias), or None."""
    return version_by_alias(client, CHAMPION if market is None else alias(CHAMPION, market), name)


def artifact_digest(folder: str | Path) -> str:
    """SHA-256 over every file of a model folder (relative path and content, in path order)."""
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def version_digest(version) -> str:
    """Digest of a model version's artifact files as stored now (download, hash)."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=_version_uri(version), dst_path=tmp)
        return artifact_digest(local)


def load_verified(client, version, name: str = MODEL_NAME):
    """Load a registered version after checking its files against the SHA-256 recorded when it
    was registered; raises :class:`~core.errors.TerraMinerError` (nothing deserialized) when the
    digest is missing or differs."""
    import mlflow

    from core.errors import TerraMinerError

    expected = (version.tags or {}).get(DIGEST_TAG)
    if not expected:
        raise TerraMinerError(f"{name} v{version.version} has no recorded {DIGEST_TAG}: refusing to load it")
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=_version_uri(version), dst_path=tmp)
        actual = artifact_digest(local)
        if actual != expected:
            raise TerraMinerError(
                f"{name} v{version.version}: artifact SHA-256 {actual[:12]}… differs from the {expected[:12]}… "
                "recorded at registration (tampered or replaced): refusing to load it")
        return mlflow.sklearn.load_model(local)


def _escape(value: str) -> str:
    return value.replace("'", "\\'")


def _version_uri(version) -> str:
    return f"models:/{version.name}/{version.version}"
