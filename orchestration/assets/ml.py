"""ML assets: the AVM (trained on ``feat_avm_sales``, behind a blocking quality gate) and its batch
valuations (``ml.property_valuations``, the upstream of the dbt source of the same name)."""

import dagster as dg

from orchestration.resources import WarehouseResource

AVM_MODEL = dg.AssetKey(["ml", "avm_model"])
PROPERTY_VALUATIONS = dg.AssetKey(["ml", "property_valuations"])
FEATURES_SALES = dg.AssetKey(["features", "feat_avm_sales"])
FEATURES_PROPERTIES = dg.AssetKey(["features", "feat_avm_properties"])


class AvmConfig(dg.Config):
    dataset: str = ""
    """source_system to train on; empty = TERRAMINER_AVM_DATASET (default synthetic). Scoring with
    an empty dataset values every market that has a champion, each with its own."""
    max_mdape: float = 0.25
    """Quality gate: the challenger's test MdAPE must not exceed this."""
    min_coverage: float = 0.65
    max_coverage: float = 0.92
    """Quality gate: the 80 % interval's test coverage must fall inside [min, max]."""


def _dataset(config: AvmConfig) -> str:
    from core.settings import get_settings

    return config.dataset or get_settings().avm_dataset


@dg.asset(
    key=AVM_MODEL,
    deps=[FEATURES_SALES],
    group_name="ml",
    kinds={"scikit-learn", "mlflow"},
    description="Trains the AVM on one market's feat_avm_sales (time-based test window), logs it to MLflow, "
                "registers a version of terraminer_avm as that market's challenger and moves the market's "
                "champion alias only if it passes the quality gate and beats that champion.",
    check_specs=[dg.AssetCheckSpec("quality_gate", asset=AVM_MODEL, blocking=True,
                                   description="test MdAPE and interval coverage within the configured bounds")],
)
def avm_model(context: dg.AssetExecutionContext, config: AvmConfig, warehouse: WarehouseResource):
    from ml.features import load_sales
    from ml.train import QualityGate, train

    dataset = _dataset(config)
    with warehouse.connect() as conn:
        frame = load_sales(conn, dataset)
    gate = QualityGate(max_mdape=config.max_mdape, min_coverage=config.min_coverage, max_coverage=config.max_coverage)
    # the gate is checked inside train() before any alias moves; the asset check reports it
    result = train(warehouse.settings(), frame, dataset=dataset, run_key=context.run_id, gate=gate,
                   log=context.log.info)
    metrics = result.metrics
    yield dg.MaterializeResult(
        asset_key=AVM_MODEL,
        metadata={
            "dataset": dataset,
            "mlflow_run_id": result.run_id or "",
            "model_version": result.model_version or "",
            "promoted": result.promoted,
            "decision": result.decision,
            "mdape": float(metrics["mdape"]),
            "ppe10": float(metrics["ppe10"]),
            "ppe20": float(metrics["ppe20"]),
            "coverage80": float(metrics["coverage80"]),
            "n_train": result.n_train,
            "n_test": int(metrics["n"] if "n" in metrics else metrics.get("n_test", 0)),
            "test_start": result.window.get("test_start", ""),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=AVM_MODEL, check_name="quality_gate", passed=bool(result.gate_passed),
        metadata={"mdape": float(metrics["mdape"]), "max_mdape": config.max_mdape,
                  "coverage80": float(metrics["coverage80"]),
                  "coverage_bounds": f"[{config.min_coverage}, {config.max_coverage}]"},
    )


@dg.asset(
    key=PROPERTY_VALUATIONS,
    deps=[AVM_MODEL, FEATURES_PROPERTIES],
    group_name="ml",
    kinds={"scikit-learn", "postgres"},
    description="Each market's champion values that market's properties of feat_avm_properties into "
                "ml.property_valuations.",
)
def property_valuations(context: dg.AssetExecutionContext, config: AvmConfig, warehouse: WarehouseResource):
    from ml.score import score, score_all

    with warehouse.connect() as conn:
        if config.dataset:
            result = score(warehouse.settings(), conn, dataset=config.dataset, log=context.log.info)
        else:
            result = score_all(warehouse.settings(), conn, log=context.log.info)
        conn.commit()
    return dg.MaterializeResult(metadata={
        "rows": result["rows"], "model_version": result["model_version"] or "",
        "valuation_date": result["valuation_date"] or "", "dagster/row_count": result["rows"],
    })
