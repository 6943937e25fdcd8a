"""A champion per market and safe promotion (issue 20 item 3, issue 15 item 4): each market has
its own champion and challenger aliases; the quality gate is checked before any alias moves; a
champion that fails to score is an error, not a promotion; artifacts are stored with skops and
refused, before anything is deserialized, when their SHA-256 differs from the one recorded at
registration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.errors import TerraMinerError
from core.settings import Settings
from ml import tracking
from ml.score import load_champion
from ml.train import QualityGate, train
from tests.ml.conftest import synthetic_sales

FAST = {"seeds": (0,), "max_iter": 150}  # small models: these tests are about the registry


def _quiet(_message: str) -> None:
    pass


@pytest.fixture
def settings(tmp_path):
    return Settings(env="ci", home=tmp_path / "home", avm_dataset="synthetic")


def _market(name: str, seed: int) -> object:
    frame = synthetic_sales(n=1200, seed=seed)
    return frame.assign(source_system=name, region_id=frame["region_id"] + name[:2].upper())


def _aliases(settings) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    model = MlflowClient(settings.mlflow_uri).get_registered_model(tracking.MODEL_NAME)
    return {name: str(version) for name, version in model.aliases.items()}


def test_each_market_has_its_own_champion_and_training_one_never_moves_another(settings):
    synthetic, nyc = _market("synthetic", 0), _market("nyc_dof", 7)
    first = train(settings, synthetic, dataset="synthetic", model_params=FAST, log=_quiet)
    assert first.promoted and first.model_version == "1"
    model_before, version_before, _ = load_champion(settings, "synthetic")
    before = model_before.predict_log(synthetic.tail(50))

    other = train(settings, nyc, dataset="nyc_dof", model_params=FAST, log=_quiet)
    # the NYC model is compared with no champion of another market: it is NYC's first
    assert other.promoted and other.champion_metrics is None and "first nyc_dof model" in other.decision
    assert _aliases(settings) == {"champion-synthetic": "1", "challenger-synthetic": "1", "champion": "1",
                                  "challenger": "1", "champion-nyc_dof": "2", "challenger-nyc_dof": "2"}
    model_after, version_after, trained_on = load_champion(settings, "synthetic")
    assert (version_after, trained_on) == (version_before, "synthetic")
    assert np.array_equal(model_after.predict_log(synthetic.tail(50)), before)
    assert load_champion(settings, "nyc_dof")[1:] == ("2", "nyc_dof")

    # a second NYC model is judged only against NYC's champion on NYC's window
    again = train(settings, nyc, dataset="nyc_dof", model_params=FAST, log=_quiet)
    assert not again.promoted and "nyc_dof champion v2" in again.decision
    assert again.champion_metrics["mdape"] == pytest.approx(again.metrics["mdape"])
    aliases = _aliases(settings)
    assert (aliases["champion-nyc_dof"], aliases["challenger-nyc_dof"], aliases["champion"]) == ("2", "3", "1")


def test_a_challenger_that_fails_the_gate_never_becomes_champion(settings):
    sales = _market("synthetic", 0)
    strict = QualityGate(max_mdape=0.0001)
    first = train(settings, sales, dataset="synthetic", gate=strict, model_params=FAST, log=_quiet)
    assert not first.promoted and not first.gate_passed and "failed the quality gate" in first.decision
    assert tracking.champion_version(tracking.configure(settings), "synthetic") is None
    assert _aliases(settings) == {"challenger-synthetic": "1", "challenger": "1"}

    ok = train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)
    assert ok.promoted and ok.model_version == "2"
    # better data would win on MdAPE, but the gate says no: the champion stays
    cleaner = sales.assign(sale_price=np.round(sales["true_value"], -2))
    blocked = train(settings, cleaner, dataset="synthetic", gate=QualityGate(min_coverage=0.99), model_params=FAST,
                    log=_quiet)
    assert not blocked.promoted and "failed the quality gate" in blocked.decision
    assert _aliases(settings)["champion-synthetic"] == "2"


def _artifact(settings, version: str, filename: str) -> Path:
    client = tracking.configure(settings)
    model_id = client.get_model_version(tracking.MODEL_NAME, version).source.rsplit("/", 1)[-1]  # models:/m-…
    [path] = [p for p in Path(settings.home_dir).rglob(filename) if model_id in str(p)]
    return path


def test_models_are_stored_with_skops_and_pinned_requirements(settings):
    result = train(settings, _market("synthetic", 0), dataset="synthetic", model_params=FAST, log=_quiet)
    mlmodel = yaml.safe_load(_artifact(settings, result.model_version, "MLmodel").read_text())
    flavor = mlmodel["flavors"]["sklearn"]
    assert flavor["serialization_format"] == "skops"
    assert set(flavor["skops_trusted_types"]) == set(tracking.SKOPS_TRUSTED_TYPES)
    requirements = _artifact(settings, result.model_version, "requirements.txt").read_text().split()
    assert any(r.startswith("scikit-learn==") for r in requirements)
    assert any(r.startswith("skops==") for r in requirements)


@pytest.mark.parametrize("change", ["tamper", "replace"])
def test_a_tampered_or_replaced_artifact_is_refused_before_it_is_loaded(settings, monkeypatch, change):
    sales = _market("synthetic", 0)
    train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)
    path = _artifact(settings, "1", "model.skops")
    if change == "tamper":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    else:  # another model's file put in its place
        other = train(settings, _market("nyc_dof", 3), dataset="nyc_dof", model_params=FAST, log=_quiet)
        path.write_bytes(_artifact(settings, other.model_version, "model.skops").read_bytes())
    loads = []
    import mlflow

    monkeypatch.setattr(mlflow.sklearn, "load_model", lambda *a, **k: loads.append(a))
    with pytest.raises(TerraMinerError, match="tampered or replaced"):
        load_champion(settings, "synthetic")
    # a challenger is never promoted over a champion that cannot be loaded: that is an error
    with pytest.raises(TerraMinerError, match="failed to score"):
        train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)
    assert loads == []  # nothing was deserialized
    assert _aliases(settings)["champion-synthetic"] == "1"


def test_a_champion_that_fails_to_score_is_an_error_not_a_promotion(settings, monkeypatch):
    sales = _market("synthetic", 0)
    train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)

    def broken(*_args, **_kwargs):
        raise KeyError("living_sqft")

    monkeypatch.setattr("ml.train.rescore", broken)
    with pytest.raises(TerraMinerError, match="champion v1 failed to score"):
        train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)
    aliases = _aliases(settings)
    assert aliases["champion-synthetic"] == "1" and aliases["challenger-synthetic"] == "2"


def test_the_logged_model_travels_without_this_repository(settings, tmp_path):
    """The model folder alone (its code_paths, pinned requirements, skops file) loads and predicts
    estimate/lower/upper in a Python that cannot import this repository; the training data is
    recorded with mlflow.log_input."""
    import json
    import subprocess
    import sys

    import mlflow

    sales = _market("synthetic", 0)
    result = train(settings, sales, dataset="synthetic", model_params=FAST, log=_quiet)
    client = tracking.configure(settings)
    version = client.get_model_version(tracking.MODEL_NAME, result.model_version)
    folder = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{tracking.MODEL_NAME}/{version.version}",
                                                 dst_path=str(tmp_path / "copy"))
    mlmodel = yaml.safe_load((Path(folder) / "MLmodel").read_text())
    outputs = [c["name"] for c in json.loads(mlmodel["signature"]["outputs"])]
    assert outputs == ["estimate", "lower", "upper"]
    assert (Path(folder) / "code" / "ml" / "model.py").exists()
    rows = sales.drop(columns=["sale_price", "true_value"]).tail(2)
    script = (
        "import io, json, sys, pandas as pd, mlflow.pyfunc\n"
        "assert not any('wt-avm' in p or p in ('', '.') for p in sys.path), sys.path\n"
        f"model = mlflow.pyfunc.load_model({folder!r})\n"
        f"rows = pd.read_json(io.StringIO({rows.to_json(orient='split', date_format='iso')!r}), orient='split')\n"
        "rows = rows.astype({c: 'float64' for c in rows.select_dtypes('number').columns})\n"
        "print(json.dumps(model.predict(rows).to_dict(orient='records')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_PYTHON_REFRESH": "quiet"}
    proc = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(answer) == 2 and all(a["lower"] < a["estimate"] < a["upper"] for a in answer)
    inputs = client.get_run(result.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["feat_avm_sales:synthetic"]
    assert inputs[0].dataset.digest
    assert json.loads(inputs[0].dataset.profile)["num_rows"] == int((sales["sale_date"] <
                                                                     pd.Timestamp(result.window["test_start"])).sum())
