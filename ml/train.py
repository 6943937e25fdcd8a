"""Train → evaluate → track → register → promote.

Time-based validation: the test window is the latest months (or a fixed ``test_start``); the
2 months before it are the conformal calibration slice. Each market (source_system) has its own
champion: a new version becomes the market's ``challenger``, and its ``champion`` only when it
passes the quality gate and its MdAPE beats that market's champion re-scored on the challenger's
own test window (exactly those sales), so training twice on the same data never moves the alias
and training one market never touches another's. A champion that cannot score is an error. A run key (the Dagster run id) finds an earlier attempt's MLflow run and reuses it.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml.features import LABEL, FeatureSpec, select_features
from ml.metrics import by_group, by_price_band, summarize
from ml.model import AVMModel

TEST_MONTHS = 3
CALIBRATION_MONTHS = 2
MIN_TRAIN_ROWS = 200


@dataclass
class Window:
    test_start: pd.Timestamp
    calibration_start: pd.Timestamp

    def describe(self) -> str:
        return f"test from {self.test_start.date()}, calibration from {self.calibration_start.date()}"


@dataclass
class Evaluation:
    model: AVMModel
    spec: FeatureSpec
    window: Window
    metrics: dict
    predictions: pd.DataFrame  # test rows: ids, actual, predicted, lower, upper, region_id
    n_train: int
    seconds: float


@dataclass
class TrainResult:
    dataset: str
    run_id: str | None
    model_version: str | None
    promoted: bool
    decision: str
    metrics: dict
    champion_metrics: dict | None = None
    window: dict = field(default_factory=dict)
    n_train: int = 0
    gate_passed: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def split_for_fraction(frame: pd.DataFrame, fraction: float) -> pd.Timestamp:
    """The first day of a test window holding about the latest ``fraction`` of the sales (whole
    days: a day's sales are all in training or all in test)."""
    if not 0 < fraction < 1:
        from core.errors import TerraMinerError

        raise TerraMinerError(f"--test-fraction must be between 0 and 1, not {fraction}")
    dates = frame.loc[frame[LABEL] > 0, "sale_date"].sort_values().reset_index(drop=True)
    if dates.empty:
        from core.errors import TerraMinerError

        raise TerraMinerError("no sales with a price to split")
    return pd.Timestamp(dates.iloc[min(len(dates) - 1, int(len(dates) * (1 - fraction)))]).normalize()


def choose_window(frame: pd.DataFrame, test_start: str | pd.Timestamp | None = None) -> Window:
    if test_start is None:
        last = frame["sale_date"].max()
        start = (last - pd.DateOffset(months=TEST_MONTHS)).normalize() + pd.Timedelta(days=1)
    else:
        start = pd.Timestamp(test_start)
    return Window(start, start - pd.DateOffset(months=CALIBRATION_MONTHS))


def predict_online(model: AVMModel, frame: pd.DataFrame) -> np.ndarray:
    """Log predictions for sales in ``frame`` as each sale day comes: the drift stage may use the
    prices of every earlier sale in ``frame`` (known by then), never the same day or later."""
    known = model.known_rows(frame, frame[LABEL], frame["sale_date"])
    return model.predict_at(frame, frame["sale_date"].to_numpy(), known=known)


def fit_calibrated(train: pd.DataFrame, spec: FeatureSpec, window: Window, **params) -> AVMModel:
    """Split-conformal: fit before the calibration slice, take its log-residual quantiles, refit."""
    early = train[train["sale_date"] < window.calibration_start]
    calib = train[train["sale_date"] >= window.calibration_start]
    final = AVMModel(spec.numeric, spec.categorical, **params)
    if len(early) >= MIN_TRAIN_ROWS and len(calib) >= 30:
        first = AVMModel(spec.numeric, spec.categorical, **params).fit(early, early[LABEL], early["sale_date"])
        residuals = np.log(calib[LABEL].to_numpy(dtype=float)) - predict_online(first, calib)
        shift = float(np.median(residuals)) if final.calibrate_shift else 0.0
        alpha = 0.2
        low, high = np.quantile(residuals - shift, alpha / 2), np.quantile(residuals - shift, 1 - alpha / 2)
    else:
        low, high, shift = np.log(0.8), np.log(1.25), 0.0
    final.fit(train, train[LABEL], train["sale_date"])
    return final.set_interval(low, high, shift)


def evaluate(frame: pd.DataFrame, test_start=None, **params) -> Evaluation:
    started = time.perf_counter()
    frame = frame[frame[LABEL] > 0].sort_values(["sale_date", "sale_id"]).reset_index(drop=True)
    window = choose_window(frame, test_start)
    train = frame[frame["sale_date"] < window.test_start]
    test = frame[frame["sale_date"] >= window.test_start]
    if len(train) < MIN_TRAIN_ROWS or test.empty:
        from core.errors import TerraMinerError

        raise TerraMinerError(
            f"not enough data to train and test ({len(train)} training rows, {len(test)} test rows; "
            f"{window.describe()}): generate or ingest more sales"
        )
    spec = select_features(train)
    model = fit_calibrated(train, spec, window, **params)
    log_pred = predict_online(model, test)
    lower, upper = model.interval(log_pred)
    predictions = pd.DataFrame({
        "sale_id": test["sale_id"].to_numpy(),
        "property_id": test["property_id"].to_numpy(),
        "sale_date": test["sale_date"].to_numpy(),
        "region_id": test["region_id"].to_numpy() if "region_id" in test else "",
        "actual": test[LABEL].to_numpy(dtype=float),
        "predicted": np.exp(log_pred),
        "lower": lower,
        "upper": upper,
    })
    metrics = summarize(predictions["actual"], predictions["predicted"], predictions["lower"], predictions["upper"])
    return Evaluation(model, spec, window, metrics, predictions, len(train), time.perf_counter() - started)


def rescore(model: AVMModel, frame: pd.DataFrame, window: Window) -> dict:
    """Metrics of another (champion) model on the same test window; raises when it cannot score it."""
    test = frame[(frame["sale_date"] >= window.test_start) & (frame[LABEL] > 0)].sort_values(["sale_date", "sale_id"])
    log_pred = predict_online(model, test)
    if not np.all(np.isfinite(log_pred)):
        raise ValueError(f"{int((~np.isfinite(log_pred)).sum())} of {len(log_pred)} test sales without an estimate")
    lower, upper = model.interval(log_pred)
    return summarize(test[LABEL], np.exp(log_pred), lower, upper)


# ---------------------------------------------------------------------- MLflow
def _plots(evaluation: Evaluation, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pred = evaluation.predictions
    paths = []
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(pred["actual"], pred["predicted"], s=4, alpha=0.4)
    lims = [pred[["actual", "predicted"]].min().min(), pred[["actual", "predicted"]].max().max()]
    ax.plot(lims, lims, color="black", linewidth=1)
    ax.set(xscale="log", yscale="log", xlabel="actual price", ylabel="predicted price",
           title=f"Test window: MdAPE {evaluation.metrics['mdape']:.3f}")
    paths.append(folder / "predicted_vs_actual.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)

    regions = by_group(pred, "region_id")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(regions["region_id"].astype(str), regions["mdape"])
    ax.set(ylabel="MdAPE", title="Error by region")
    ax.tick_params(axis="x", rotation=45)
    paths.append(folder / "error_by_region.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)

    monthly = pred.assign(
        month=pd.to_datetime(pred["sale_date"]).dt.to_period("M").dt.to_timestamp(),
        log_residual=np.log(pred["actual"] / pred["predicted"]),
    ).groupby("month")["log_residual"].median()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(monthly.index, monthly.to_numpy(), marker="o")
    ax.axhline(0, color="black", linewidth=1)
    ax.set(ylabel="median log residual", title="Residuals over time")
    paths.append(folder / "residuals_over_time.png")
    fig.savefig(paths[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)
    return paths


@dataclass(frozen=True)
class QualityGate:
    """The bar a challenger must clear before it may become a champion (checked inside
    :func:`train`, before any alias moves: the gate is the last word)."""

    max_mdape: float = 0.25
    min_coverage: float = 0.65
    max_coverage: float = 0.92

    def check(self, metrics: dict) -> tuple[bool, str]:
        problems = []
        if not metrics["mdape"] <= self.max_mdape:
            problems.append(f"MdAPE {metrics['mdape']:.4f} > {self.max_mdape}")
        if not self.min_coverage <= metrics["coverage80"] <= self.max_coverage:
            problems.append(f"coverage80 {metrics['coverage80']:.3f} outside [{self.min_coverage}, {self.max_coverage}]")
        return not problems, "; ".join(problems) or "passed"


def train(
    settings,
    frame: pd.DataFrame,
    *,
    dataset: str,
    test_start=None,
    run_key: str | None = None,
    register: bool = True,
    experiment: str | None = None,
    gate: QualityGate | None = None,
    model_params: dict | None = None,
    log=print,
) -> TrainResult:
    """Evaluate, log to MLflow and (optionally) register + promote. ``frame`` = feature rows.

    The new version becomes ``dataset``'s challenger; it becomes that market's champion only if it
    passes ``gate`` and beats the market's champion re-scored on the same test sales. A champion
    that fails to score is an error (raised, nothing promoted), never a reason to promote."""
    import mlflow
    from mlflow.models import infer_signature

    from ml import tracking

    gate = gate or QualityGate()
    client = tracking.configure(settings)
    experiment = experiment or tracking.EXPERIMENT
    with tracking.run_for(settings, client, run_key, f"{dataset}-avm", experiment) as (run, resumed):
        if resumed and run.data.tags.get("terraminer.decision"):
            tags = run.data.tags
            log(f"reusing MLflow run {run.info.run_id} of an earlier attempt")
            metrics = {k: v for k, v in run.data.metrics.items()}
            return TrainResult(dataset, run.info.run_id, tags.get("terraminer.model_version"),
                               tags.get("terraminer.promoted") == "true", tags["terraminer.decision"],
                               metrics, json.loads(tags.get("terraminer.champion_metrics", "null")),
                               json.loads(tags.get("terraminer.window", "{}")),
                               gate_passed=tags.get("terraminer.gate_passed", "true") == "true")
        evaluation = evaluate(frame, test_start, **(model_params or {}))
        metrics = evaluation.metrics
        log(f"{dataset}: {evaluation.n_train:,} training sales, {metrics['n']:,} test sales "
            f"({evaluation.window.describe()}); MdAPE {metrics['mdape']:.4f}, PPE10 {metrics['ppe10']:.3f}, "
            f"coverage80 {metrics['coverage80']:.3f} ({evaluation.seconds:.0f} s)")
        model = evaluation.model
        window = {"test_start": str(evaluation.window.test_start.date()),
                  "calibration_start": str(evaluation.window.calibration_start.date())}
        mlflow.log_params({
            "dataset": dataset, "n_train": evaluation.n_train, "n_test": metrics["n"], **window,
            "numeric_features": ",".join(evaluation.spec.numeric),
            "categorical_features": ",".join(evaluation.spec.categorical),
            "interval_log_low": round(model.residual_low_, 5), "interval_log_high": round(model.residual_high_, 5),
            **{k: v for k, v in model.get_params().items() if k not in ("numeric_features", "categorical_features")},
        })
        mlflow.log_metrics({k: v for k, v in metrics.items() if isinstance(v, float)} | {"n_test": metrics["n"]})
        regions = by_group(evaluation.predictions, "region_id")
        for row in regions.itertuples(index=False):
            mlflow.log_metric(f"mdape_{_metric_name(row.region_id)}", float(row.mdape))
        bands = by_price_band(evaluation.predictions)  # quartiles of the estimate
        for row in bands.itertuples(index=False):
            mlflow.log_metrics({f"mdape_price_band_{row.price_band}": float(row.mdape),
                                f"ppe10_price_band_{row.price_band}": float(row.ppe10)})
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            regions.to_csv(folder / "metrics_by_region.csv", index=False)
            bands.to_csv(folder / "metrics_by_price_band.csv", index=False)
            evaluation.predictions.to_csv(folder / "test_predictions.csv.gz", index=False)
            for path in _plots(evaluation, folder):
                mlflow.log_artifact(str(path), artifact_path="plots")
            mlflow.log_artifact(str(folder / "metrics_by_region.csv"))
            mlflow.log_artifact(str(folder / "metrics_by_price_band.csv"))
            mlflow.log_artifact(str(folder / "test_predictions.csv.gz"))
        training = frame[frame["sale_date"] < evaluation.window.test_start]
        mlflow.log_input(mlflow.data.from_pandas(training, name=f"feat_avm_sales:{dataset}"), context="training")
        mlflow.log_param("training_rows", len(training))
        example = frame[evaluation.spec.columns].head(5).reset_index(drop=True)
        with tempfile.TemporaryDirectory() as code_dir:
            info = mlflow.sklearn.log_model(
                model, name="model", serialization_format="skops", skops_trusted_types=tracking.SKOPS_TRUSTED_TYPES,
                signature=infer_signature(example, model.predict(example)), input_example=example,
                pip_requirements=_requirements(), code_paths=[_model_code(Path(code_dir))],
            )
        gate_passed, gate_reason = gate.check(metrics)
        mlflow.set_tags({"terraminer.gate_passed": str(gate_passed).lower(), "terraminer.gate": gate_reason})
        version, promoted, decision, champion_metrics, error = None, False, "not registered", None, None
        if register:
            version, promoted, decision, champion_metrics, error = _register_and_promote(
                settings, client, info.model_uri, run.info.run_id, dataset, metrics, frame, evaluation.window,
                gate_passed, gate_reason,
            )
        mlflow.set_tags({
            "terraminer.dataset": dataset, "terraminer.decision": decision,
            "terraminer.promoted": str(promoted).lower(), "terraminer.model_version": version or "",
            "terraminer.window": json.dumps(window),
            "terraminer.champion_metrics": json.dumps(champion_metrics),
        })
        log(decision)
        if error is not None:
            from core.errors import TerraMinerError

            raise TerraMinerError(decision) from error
        return TrainResult(dataset, run.info.run_id, version, promoted, decision, metrics, champion_metrics,
                           window, evaluation.n_train, gate_passed)


def _model_code(folder: Path) -> str:
    """A package ``ml`` holding only the model's module (numpy, pandas, scikit-learn imports): logged
    as the model's ``code_paths`` so it loads without this repository."""
    import ml.model

    package = folder / "ml"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "model.py").write_text(Path(ml.model.__file__).read_text())
    return str(package)


def _requirements() -> list[str]:
    """Pinned requirements of the logged model (what a fresh environment installs to load it)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "scipy", "skops")]


def _register_and_promote(settings, client, model_uri: str, run_id: str, dataset: str, metrics: dict, frame,
                          window: Window, gate_passed: bool, gate_reason: str):
    """Register the run's model as ``dataset``'s challenger, then promote it to champion only after
    the gate passed and it beat that market's champion on the same window. Returns
    ``(version, promoted, decision, champion_metrics, error)``."""
    import mlflow

    from ml import tracking

    registered = mlflow.register_model(model_uri, tracking.MODEL_NAME)
    version = str(registered.version)
    stored = client.get_model_version(tracking.MODEL_NAME, version)
    client.set_model_version_tag(tracking.MODEL_NAME, version, tracking.DIGEST_TAG, tracking.version_digest(stored))
    client.set_model_version_tag(tracking.MODEL_NAME, version, tracking.MARKET_TAG, dataset)
    client.set_model_version_tag(tracking.MODEL_NAME, version, "run_id", run_id)
    default_market = getattr(settings, "avm_dataset", None)
    for name in tracking.aliases_for(tracking.CHALLENGER, dataset, default_market):
        client.set_registered_model_alias(tracking.MODEL_NAME, name, version)
    champion = tracking.champion_version(client, dataset)
    champion_metrics, error, promoted = None, None, False
    if not gate_passed:
        decision = f"v{version} failed the quality gate ({gate_reason}): not promoted"
    elif champion is None:
        promoted, decision = True, f"version {version} is the first {dataset} model to pass the gate: champion"
    else:
        try:
            champion_model = tracking.load_verified(client, champion)
            champion_metrics = rescore(champion_model, frame, window)
        except Exception as exc:  # noqa: BLE001 - reported below, never a reason to promote
            error = exc
            decision = (f"{dataset} champion v{champion.version} failed to score this window "
                        f"({type(exc).__name__}: {exc}): v{version} not promoted")
        else:
            if metrics["mdape"] < champion_metrics["mdape"] - 1e-9:
                promoted = True
                decision = (f"v{version} MdAPE {metrics['mdape']:.4f} beats {dataset} champion v{champion.version} "
                            f"{champion_metrics['mdape']:.4f} on the same window: promoted")
            else:
                decision = (f"v{version} MdAPE {metrics['mdape']:.4f} does not beat {dataset} champion "
                            f"v{champion.version} {champion_metrics['mdape']:.4f} on the same window: "
                            "champion unchanged")
    if promoted:
        for name in tracking.aliases_for(tracking.CHAMPION, dataset, default_market):
            client.set_registered_model_alias(tracking.MODEL_NAME, name, version)
    client.set_model_version_tag(tracking.MODEL_NAME, version, "decision", decision)
    return version, promoted, decision, champion_metrics, error


def _metric_name(value) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(value))
